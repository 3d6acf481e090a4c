"""What the chat renders, in Chromium: hostile text from an order and from the
model stays text, the Markdown renderer and the SSE parser on their own, a
stream error with its Retry, keyboard use and a phone-sized screen."""
from __future__ import annotations

import json
from typing import Any

from tests.support import LiveServer
from tests.web.browser import CARD_4242, enter_new_card, ask, open_checkout, pay_now, payment_card, sign_in, wait_paid
from tests.web.support import new_unpaid_order, pay_url

PAYLOADS = [
    '<img src=x onerror="window.__xss=1">',
    "<script>window.__xss=2</script>",
    '<a href="javascript:window.__xss=3">link</a>',
    '"><svg onload="window.__xss=4">',
]
HOSTILE = " ".join(PAYLOADS)


def assert_inert(page: Any, scope: Any) -> None:
    assert page.evaluate("window.__xss") is None
    assert scope.locator("img, script, svg, iframe, [onerror], [onload]").count() == 0
    hrefs = scope.locator("a").evaluate_all("links => links.map(a => a.href)")
    assert all(href.startswith(("http:", "https:", "mailto:")) for href in hrefs), hrefs


def test_hostile_order_text_is_shown_as_text_in_the_chat_and_on_the_pay_page(page: Any, clonesahibinden: LiveServer) -> None:
    order = new_unpaid_order(clonesahibinden, "alice", title=HOSTILE)
    sign_in(page, clonesahibinden)
    answer = ask(page, "pay my latest unpaid listing")
    card = payment_card(answer)
    assert card.get_attribute("data-order-id") == order["id"]
    assert PAYLOADS[0] in card.locator(".summary").inner_text()  # shown, character for character
    answer.locator("details.tool-card").first.locator("summary").click()  # the tool result holds the title too
    assert_inert(page, page.locator("#messages"))

    page.goto(pay_url(clonesahibinden, "alice", order["id"]))
    card = payment_card(page)
    assert PAYLOADS[1] in card.locator(".summary").inner_text()
    assert_inert(page, page.locator("main"))


def test_hostile_model_text_is_rendered_inert(page: Any, clonesahibinden: LiveServer) -> None:
    # The offline assistant writes listing titles into its answer: the model text carries the payloads.
    title = f"**Hello** {PAYLOADS[0]} {PAYLOADS[1]} [click](javascript:alert(1)) [ok](https://example.com/a)"
    new_unpaid_order(clonesahibinden, "bob", title=title)
    sign_in(page, clonesahibinden, "bob")
    answer = ask(page, "list my listings")
    text = answer.locator(".markdown").first
    assert text.locator("strong", has_text="Hello").count() == 1  # Markdown still works
    assert PAYLOADS[1] in text.inner_text()
    assert text.locator("a").count() == 1  # the https link only; the javascript: one stays text
    assert_inert(page, answer)


def test_markdown_renderer(page: Any, clonesahibinden: LiveServer) -> None:
    page.goto(clonesahibinden.base_url + "/pay/result")  # any page of ours: same origin for the module import
    html = page.evaluate("""async (text) => {
        const { renderMarkdown } = await import('/ui/js/markdown.js');
        const box = document.createElement('div');
        box.append(renderMarkdown(text));
        return box.innerHTML;
    }""", "# Title\n\nSome *em* and **strong** and `<b>code</b>`.\n\n- one\n- two\n\n1. first\n\n```\n<script>x</script>\n```\n\n"
             "> quoted\n\nSee https://example.com/x. and [docs](/docs) or [bad](javascript:alert(1))")
    assert "<h3>Title</h3>" in html
    assert "<em>em</em>" in html and "<strong>strong</strong>" in html
    assert "<code>&lt;b&gt;code&lt;/b&gt;</code>" in html
    assert "<ul><li>one</li><li>two</li></ul>" in html and "<ol><li>first</li></ol>" in html
    assert "<pre><code>&lt;script&gt;x&lt;/script&gt;</code></pre>" in html
    assert "<blockquote><p>quoted</p></blockquote>" in html
    assert 'href="https://example.com/x"' in html and f'href="{clonesahibinden.base_url}/docs"' in html
    assert "javascript:" not in html.replace("[bad](javascript:alert(1))", "")  # shown as text only
    assert "[bad](javascript:alert(1))" in html


def test_sse_parser_handles_split_frames_comments_and_line_endings(page: Any, clonesahibinden: LiveServer) -> None:
    page.goto(clonesahibinden.base_url + "/pay/result")
    frames = page.evaluate("""async (chunks) => {
        const { createParser } = await import('/ui/js/sse.js');
        const seen = [];
        const parser = createParser((frame) => seen.push(frame));
        chunks.forEach((chunk) => parser.push(chunk));
        parser.end();
        return seen;
    }""", [": keep-alive\n\nid: 1\nevent: te", "xt\ndata: {\"content\": \"a\"}\r", "\n\r\nid: 2\r\nevent: done\rdata: x\ndata: y\n\n",
           "data: unterminated"])
    assert frames == [{"event": "text", "data": json.dumps({"content": "a"}), "id": "1"},
                      {"event": "done", "data": "x\ny", "id": "2"}]


def test_a_stream_error_is_shown_with_a_retry(page: Any, clonesahibinden: LiveServer) -> None:
    sign_in(page, clonesahibinden)
    failing = 'event: start\ndata: {"conversationId": null, "provider": "x"}\n\nevent: error\ndata: {"message": "The model is overloaded."}\n\n'
    page.route("**/api/chat/stream", lambda route: route.fulfill(status=200, content_type="text/event-stream", body=failing))
    page.get_by_label("Message").fill("hello there")
    page.get_by_label("Message").press("Enter")
    page.get_by_role("alert").filter(has_text="The model is overloaded.").wait_for()
    page.unroute("**/api/chat/stream")
    page.get_by_role("button", name="Retry").click()
    page.locator("li.message.assistant[data-state=done]").wait_for()
    assert page.locator("li.message.assistant").count() == 1  # the failed answer made way for the retried one


def test_keyboard_only_sign_in_chat_and_pay(page: Any, clonesahibinden: LiveServer) -> None:
    order = new_unpaid_order(clonesahibinden, "carol", title="Keyboard listing")
    page.goto(clonesahibinden.base_url + "/")
    page.keyboard.type("carol")  # the user field has the focus
    page.keyboard.press("Tab")
    page.keyboard.type("carol-pass")
    page.keyboard.press("Enter")
    page.get_by_label("Message").wait_for()
    page.keyboard.type("please pay my latest listing")  # the message field has the focus
    page.keyboard.press("Enter")
    card = payment_card(page)
    assert card.get_attribute("data-order-id") == order["id"]
    pay = card.get_by_role("button", name="Pay", exact=False).first
    pay.wait_for()  # shown once the card has read the order's state
    pay.focus()
    page.keyboard.press("Enter")
    card.locator("section.checkout").wait_for()
    enter_new_card(card, CARD_4242, holder="Carol Clark")
    card.locator("button.pay-now").focus()
    page.keyboard.press("Enter")
    wait_paid(card)


def test_a_phone_sized_screen(chromium: Any, clonesahibinden: LiveServer, shot: Any) -> None:
    context = chromium.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page = context.new_page()
    try:
        new_unpaid_order(clonesahibinden, "bob", title="Phone listing")
        sign_in(page, clonesahibinden, "bob")
        card = payment_card(ask(page, "pay my latest listing"))
        open_checkout(card)
        enter_new_card(card, CARD_4242, holder="Bob Brown")
        shot(page, "checkout")
        pay_now(card)
        wait_paid(card)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"the page scrolls sideways ({width}px)"
        page.get_by_role("button", name="Conversations").click()
        page.locator("#conversation-list button.conversation-open").first.wait_for()
        shot(page, "paid")
    finally:
        context.close()


def test_an_interrupted_stream_resumes_with_last_event_id(page: Any, clonesahibinden: LiveServer) -> None:
    sign_in(page, clonesahibinden)
    seen: list[dict[str, str]] = []
    first = ('id: t1:0\nevent: start\ndata: {"conversationId": null, "provider": "x"}\n\n'
             'id: t1:1\nevent: text\ndata: {"content": "Half "}\n\n')  # then the connection drops: no done
    rest = 'id: t1:2\nevent: text\ndata: {"content": "and the rest."}\n\nid: t1:3\nevent: done\ndata: {}\n\n'

    def answer(route: Any) -> None:
        seen.append(route.request.headers)
        body = rest if "last-event-id" in route.request.headers else first
        route.fulfill(status=200, content_type="text/event-stream", body=body)

    page.route("**/api/chat/stream", answer)
    page.get_by_label("Message").fill("hello")
    page.get_by_label("Message").press("Enter")
    done = page.locator("li.message.assistant[data-state=done]")
    done.wait_for()
    assert done.locator(".markdown").inner_text() == "Half and the rest."
    assert [headers.get("last-event-id") for headers in seen] == [None, "t1:1"]


def test_conversations_are_listed_reopened_and_deleted(page: Any, clonesahibinden: LiveServer) -> None:
    sign_in(page, clonesahibinden, "admin")
    ask(page, "hello")
    conversations = page.locator("#conversation-list li")
    conversations.first.wait_for()
    assert conversations.count() == 1
    page.get_by_role("button", name="New chat").click()
    assert page.locator("li.message").count() == 0
    conversations.first.locator("button.conversation-open").click()
    page.locator("li.message.user", has_text="hello").wait_for()
    conversations.first.get_by_role("button", name="Delete conversation", exact=False).click()
    conversations.first.wait_for(state="detached")
    assert page.locator("li.message").count() == 0


def test_conversations_show_when_and_a_delete_can_be_undone(page: Any, clonesahibinden: LiveServer) -> None:
    sign_in(page, clonesahibinden, "bob")
    ask(page, "hello")
    page.get_by_role("button", name="New chat").click()
    ask(page, "hello")
    rows = page.locator("#conversation-list li")
    rows.nth(1).wait_for()
    # Alike first messages stay apart by when they were used.
    assert all(row.locator(".conversation-when").inner_text() for row in rows.all())
    count = rows.count()
    rows.first.get_by_role("button", name="Delete conversation", exact=False).click()
    assert rows.count() == count - 1  # gone from the list at once
    page.get_by_role("button", name="Undo").click()
    assert rows.count() == count
    page.reload()  # nothing was deleted on the server
    page.locator("#conversation-list li").nth(count - 1).wait_for()
    assert page.locator("#conversation-list li").count() == count
