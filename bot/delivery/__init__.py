"""Delivery: every message the bot sends leaves through here.

    handler → ctx.reply/send/email → Outbox (in memory) → rows in `outbox`, same transaction as the change
    → commit → the dispatcher claims each row and hands it to the platform's `Deliverer` → message ref kept

Secrets (temporary passwords) are the one exception: never a row, delivered from memory after the commit.
"""
