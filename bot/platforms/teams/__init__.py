"""Microsoft Teams: the bot in employees' personal chats and the technicians' triage channel (the Teams
SDK for Python, `microsoft-teams-apps`).

`adapter` turns authenticated activities into `Inbound`s; `cards` renders a neutral `Reply` as a message or
an Adaptive Card; `connector` calls the Bot Connector REST API; `deliverer` is the Teams `Deliverer` of the
outbox; `server` serves `/api/messages` with `/healthz` and `/readyz`; `package` writes the app package.
"""
