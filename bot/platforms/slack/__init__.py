"""Slack: the bot in employees' DMs and the technicians' triage channel (slack-bolt and slack_sdk).

`adapter` turns Slack events and button presses into `Inbound`s; `blocks` renders a neutral `Reply` as
Block Kit; `deliverer` is the Slack `Deliverer` of the outbox; `server` serves HTTP mode.
"""
