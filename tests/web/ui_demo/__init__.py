"""The handlers, templates, catalog and static files of the demo plugin in test_plugin_ui.py."""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).parent


async def demo_page(request, ui):
    return ui.render("demo/page.html", note="")


async def save_note(request, ui):
    form = await request.post()
    return ui.render("demo/page.html", note=str(form.get("note", "")))


async def admin_page(request, ui):
    return ui.render("demo/page.html", note="admin only")


async def document_page(request, ui):
    document = await ui.document(request.match_info["id"])
    return ui.render("demo/page.html", note=document["name"])


async def document_panel(request, ui, document):
    return ui.fragment("demo/panel.html", name=document["name"], sha=document["sha256"])


async def home_panel(request, ui):
    return "<b>text, not HTML</b>"


async def failing_panel(request, ui, document):
    raise RuntimeError("the panel broke")
