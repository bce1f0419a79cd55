"""Published articles stay right: technicians list, show, edit, withdraw and restore the articles written in
the bot (handlers.publish makes them from resolved tickets).

Chat commands (technicians only): `articles`, `article ID`, `edit article ID`, `withdraw article ID
[REASON]` (confirmed with a button) and `restore article ID`. A withdrawn article is kept, marked withdrawn,
and no longer answers questions (bot.knowledge leaves it out) — so a mistake is undone by restoring it.
Withdrawing and restoring are audited; `frontdesk kb withdraw|restore` (bot.cli_articles) do the same.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.clock import now
from bot.messages import Button, Card, shorten
from bot.store.models import KbArticle
from handlers import arguments, audit, publish, tickets
from handlers.context import Context
from handlers.registry import action, flow, in_flow

FLOW = "article.withdraw"
REASON_LENGTH = 300
LIST_LENGTH = 30  # articles listed in chat; `frontdesk kb published` lists them all

_LIST = re.compile(r"^\s*(articles|published articles|list articles)\s*$", re.I)
_COMMAND = re.compile(
    r"^\s*(?P<verb>article|show article|edit article|withdraw article|restore article)\s+"
    r"(?P<id>[A-Za-z0-9._-]+)\b[\s:,.-]*(?P<rest>.*)$",
    re.I | re.S,
)


_SHOW_VERBS = frozenset({"article", "show article"})


class ArticleError(Exception):
    """Something a technician asked that cannot be done; the message says why."""


# --- what the chat commands and the command line share ---------------------------------------------------


def published(session: Session) -> list[KbArticle]:
    """Every article written in the bot, live and withdrawn, oldest first."""
    return list(session.scalars(select(KbArticle).order_by(KbArticle.created_at, KbArticle.id)))


def find(session: Session, article_id: str) -> KbArticle:
    known = arguments.token(article_id)
    article = session.get(KbArticle, known) if known is not None else None
    if article is None:
        raise ArticleError(f"There is no published article {article_id!r}; 'articles' lists them.")
    return article


def withdraw(session: Session, article: KbArticle, reason: str, *, actor: str) -> None:
    """Stop answering with the article at once; it is kept, so `restore` can undo this."""
    if article.withdrawn_at is not None:
        raise ArticleError(f"“{article.title}” ({article.id}) is already withdrawn.")
    article.withdrawn_at, article.withdrawn_reason = now(), reason.strip()[:REASON_LENGTH]
    _audit(session, article, actor, "withdrawn")


def restore(session: Session, article: KbArticle, *, actor: str) -> None:
    if article.withdrawn_at is None:
        raise ArticleError(f"“{article.title}” ({article.id}) is not withdrawn.")
    article.withdrawn_at, article.withdrawn_reason = None, ""
    _audit(session, article, actor, "restored")


def _audit(session: Session, article: KbArticle, actor: str, result: str) -> None:
    audit.record(
        session,
        actor=actor,
        action=f"kb_article_{result}",
        target=article.id,
        result=result,
        correlation_id=f"article-{article.id}",
        source_ticket=article.source_ticket_id,
        with_reason=bool(article.withdrawn_reason),  # the reason is the technician's words: kept on the row
    )


# --- chat ------------------------------------------------------------------------------------------------


def is_command(text: str) -> bool:
    """ "articles", "withdraw article X …" — but "article about the vpn" is a question, not a command."""
    match = _COMMAND.match(text)
    if match is not None and match["verb"].lower() in _SHOW_VERBS and match["rest"].strip():
        return False
    return bool(_LIST.match(text) or match)


def try_command(ctx: Context, text: str) -> bool:
    """Run `text` as an article command; False when it is not one. Non-technicians are refused."""
    if not is_command(text):
        return False
    if not ctx.speaker.is_technician:
        if not _surely_a_command(ctx, text):
            return False  # "article vpn" from an employee is a question for the knowledge base
        ctx.reply(
            tickets.ROLE_UNVERIFIED
            if tickets.role_unverifiable(ctx)
            else "That's a technician command, for the service desk. Ask me your question instead."
        )
        return True
    match = _COMMAND.match(text)
    if match is None:
        show_list(ctx)
        return True
    verb, article_id, rest = match["verb"].lower(), match["id"], match["rest"].strip()
    try:
        if verb in _SHOW_VERBS:
            show(ctx, find(ctx.session, article_id))
        elif verb == "edit article":
            publish.on_revise(ctx, find(ctx.session, article_id).id)
        elif verb == "withdraw article":
            _ask_to_withdraw(ctx, find(ctx.session, article_id), rest)
        else:
            _restore(ctx, find(ctx.session, article_id))
    except ArticleError as error:
        ctx.reply(str(error))
    return True


def _surely_a_command(ctx: Context, text: str) -> bool:
    """Plainly an article command, not words an employee might ask the knowledge base: a verb that
    changes an article, the list, or "article ID" naming a published article."""
    match = _COMMAND.match(text)
    if match is None or match["verb"].lower() not in _SHOW_VERBS:
        return True
    known = arguments.token(match["id"])
    return known is not None and ctx.session.get(KbArticle, known) is not None


def show_list(ctx: Context) -> None:
    rows = published(ctx.session)
    live = [a for a in rows if a.withdrawn_at is None]
    withdrawn = [a for a in rows if a.withdrawn_at is not None]
    if not rows:
        ctx.reply("No articles have been published in the bot yet (a resolved ticket's card offers it).")
        return
    lines = [f"Published articles: {len(live)}", *(_line(a) for a in live[:LIST_LENGTH])]
    if len(live) > LIST_LENGTH:
        lines.append(f"… and {len(live) - LIST_LENGTH} more ('frontdesk kb published' lists them all)")
    if withdrawn:
        lines += [f"Withdrawn ({len(withdrawn)}; 'restore article ID' brings one back):"]
        lines += [_line(a) for a in withdrawn[:LIST_LENGTH]]
    ctx.reply(
        "\n".join(lines),
        [Button(f"article.show:{a.id}", f"Open {shorten(a.title, 30)}") for a in live[:5]],
        quoted=tuple(a.title for a in rows),
    )


def show(ctx: Context, article: KbArticle) -> None:
    fields = [
        ("Body", article.body),
        ("Author", article.author_email or "unknown"),
        ("From ticket", f"#{article.source_ticket_id}" if article.source_ticket_id else "none"),
        ("Published", _when(article)),
    ]
    if article.withdrawn_at is not None:
        reason = f": {article.withdrawn_reason}" if article.withdrawn_reason else ""
        fields.append(("Withdrawn", f"{article.withdrawn_at:%Y-%m-%d %H:%M}{reason}"))
        buttons = [Button(f"article.restore:{article.id}", "Restore", "primary")]
    else:
        buttons = [Button(f"article.withdraw:{article.id}", "Withdraw", "danger")]
    ctx.reply(
        f"Article {article.id}:",
        [Button(f"publish.revise:{article.id}", "Edit"), *buttons],
        card=Card(article.title, tuple(fields)),
        quoted=(article.title, article.body, article.withdrawn_reason),
    )


@action("article.show")
def on_show(ctx: Context, article_id: str) -> None:
    _as_technician(ctx, lambda: show(ctx, find(ctx.session, article_id)))


@action("article.withdraw")
def on_withdraw(ctx: Context, article_id: str) -> None:
    _as_technician(ctx, lambda: _ask_to_withdraw(ctx, find(ctx.session, article_id), ""))


@action("article.restore")
def on_restore(ctx: Context, article_id: str) -> None:
    _as_technician(ctx, lambda: _restore(ctx, find(ctx.session, article_id)))


@action("article.withdraw.confirm")
def on_confirm(ctx: Context, _: str) -> None:
    if not in_flow(ctx, FLOW, "confirm"):
        return
    data = ctx.state.data
    ctx.state.end()
    try:
        article = find(ctx.session, str(data["article_id"]))
        withdraw(ctx.session, article, str(data.get("reason", "")), actor=ctx.speaker.email)
    except ArticleError as error:
        ctx.reply(str(error))
        return
    ctx.reply(
        f"Withdrawn “{article.title}” ({article.id}): the bot no longer answers with it. "
        f"'restore article {article.id}' brings it back.",
        quoted=(article.title,),
    )


@action("article.withdraw.cancel")
def on_cancel(ctx: Context, _: str) -> None:
    if in_flow(ctx, FLOW):
        ctx.state.end()
        ctx.reply("Nothing withdrawn.")


@flow(FLOW)
def on_text(ctx: Context, text: str) -> None:
    ctx.reply("Press Withdraw to confirm, or Cancel.", _confirm_buttons())


def _ask_to_withdraw(ctx: Context, article: KbArticle, reason: str) -> None:
    if article.withdrawn_at is not None:
        raise ArticleError(f"“{article.title}” ({article.id}) is already withdrawn.")
    ctx.state.start(FLOW, "confirm", article_id=article.id, reason=reason[:REASON_LENGTH])
    because = f" (reason: {reason})" if reason else ""
    ctx.reply(
        f"Withdraw “{article.title}” ({article.id}){because}? The bot stops answering with it at once; "
        "it is kept, so it can be restored.",
        _confirm_buttons(),
        quoted=(article.title, reason),
    )


def _restore(ctx: Context, article: KbArticle) -> None:
    restore(ctx.session, article, actor=ctx.speaker.email)
    ctx.reply(
        f"Restored “{article.title}” ({article.id}): the bot answers with it again.", quoted=(article.title,)
    )


def _confirm_buttons() -> list[Button]:
    return [
        Button("article.withdraw.confirm", "Withdraw", "danger"),
        Button("article.withdraw.cancel", "Cancel"),
    ]


def _as_technician(ctx: Context, run: Callable[[], None]) -> None:
    if not ctx.speaker.is_technician:
        ctx.reply("Only service desk technicians can change published articles.")
        return
    try:
        run()
    except ArticleError as error:
        ctx.reply(str(error))


def _line(article: KbArticle) -> str:
    source = f"ticket #{article.source_ticket_id}" if article.source_ticket_id else "no ticket"
    return (
        f"• {article.id}: {article.title} — {article.author_email or 'unknown'}, {source}, {_when(article)}"
    )


def _when(article: KbArticle) -> str:
    return f"{article.created_at:%Y-%m-%d}"
