"""The console in a real browser (Debian's headless Chromium through Selenium) against the real app in demo mode:
staff pick who they are on the sign-in page, click through the pages and submit the forms as people do.

    advisor:    the WeCom link to an escalation -> sign in -> claim -> a refused reply -> an edited reply that the
                client receives at the WeCom simulator -> resolve
    compliance: the queue -> a flag with its highlighted hits -> dismiss with a note
    ops:        试一试 -> a new FAQ saved as a draft -> publish -> 试一试 and a client in chat get the new answer
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import select

from bot.models.compliance import ComplianceFlag
from tests.bot.console.conftest import World, make_world
from tests.support.browser import chrome

pytestmark = pytest.mark.browser

WAIT_S = 20


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Iterator[World]:  # type: ignore[no-untyped-def]
    yield from make_world(tmp_path_factory.mktemp("console-browser"), "demo")


@pytest.fixture(scope="module")
def driver(tmp_path_factory):  # type: ignore[no-untyped-def]
    browser = chrome(tmp_path_factory.mktemp("chromium-profile"))
    yield browser
    browser.quit()


@pytest.fixture
def shots(tmp_path) -> Path:  # type: ignore[no-untyped-def]
    return tmp_path


class Page:
    """Small helpers over the driver: click and wait for the next page, read elements by id."""

    def __init__(self, driver, world: World) -> None:  # type: ignore[no-untyped-def]
        self.d = driver
        self.world = world

    def open(self, path: str) -> None:
        self.d.get(self.world.console + path)
        self.el("footer")

    def el(self, css: str):  # type: ignore[no-untyped-def]
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support import expected_conditions as ec
        from selenium.webdriver.support.ui import WebDriverWait

        return WebDriverWait(self.d, WAIT_S).until(ec.presence_of_element_located((By.CSS_SELECTOR, css)))

    def submit(self, css: str) -> None:
        """Click a button that submits a form (or a link) and wait until the next page has loaded."""
        from selenium.webdriver.support import expected_conditions as ec
        from selenium.webdriver.support.ui import WebDriverWait

        old = self.d.find_element("tag name", "html")
        self.el(css).click()
        WebDriverWait(self.d, WAIT_S).until(ec.staleness_of(old))
        self.el("footer")

    def type(self, css: str, text: str) -> None:
        field = self.el(css)
        field.clear()
        field.send_keys(text)

    def sign_in_as(self, userid: str) -> None:
        """The demo picker: one click per identity, no token."""
        self.d.delete_all_cookies()
        if "/login" not in self.d.current_url:
            self.open("/login")
        self.submit(f'button.pick[data-userid="{userid}"]')

    def text(self, css: str = "body") -> str:
        return self.el(css).text


@pytest.fixture
def page(driver, world) -> Page:  # type: ignore[no-untyped-def]
    driver.delete_all_cookies()
    return Page(driver, world)


def test_advisor_edits_the_draft_and_the_client_receives_it(page, world, shots):  # type: ignore[no-untyped-def]
    eid, user = world.escalation("adv_a")
    holding = len(world.sim.sent_to(user))
    page.open(f"/escalations/{eid}")  # the link in the advisor's WeCom app message
    assert "/console/login" in page.d.current_url and "员工登录" in page.text("h1")
    assert not page.d.find_elements("css selector", 'input[type="password"]')  # demo mode: no token
    page.sign_in_as("adv_a")
    assert page.d.current_url.endswith(f"/console/escalations/{eid}")
    assert "客户要求人工服务" in page.text("h1") and "张三" in page.text("#client")
    assert page.el("#reply-text").get_attribute("value").startswith("您好，我是您的服务经理王顾问")
    page.d.save_screenshot(str(shots / "escalation.png"))

    page.submit("#claim")
    assert "已认领该工单" in page.text(".notice.ok") and page.el("#status").get_attribute("data-status") == "claimed"

    page.type("#reply-text", "这只基金保证收益，稳赚不赔。")
    page.submit("#send")
    page.d.save_screenshot(str(shots / "refused.png"))
    refused = page.text("#refused")
    assert "未通过合规检查" in refused and "修改建议" in refused
    assert page.el("#reply-text").get_attribute("value") == "这只基金保证收益，稳赚不赔。"  # kept for editing
    world.drain()
    assert len(world.sim.sent_to(user)) == holding

    edited = "张先生您好，开户需要本人身份证和一类银行卡，稍后我再电话与您确认。"
    page.type("#reply-text", edited)
    page.submit("#send")
    assert "回复已提交发送" in page.text(".notice.ok")
    world.drain()
    assert [m["text"] for m in world.sim.sent_to(user)[holding:]] == [edited]
    page.open(f"/escalations/{eid}")
    assert edited in page.text("#transcript")

    page.type("#outcome", "已解答开户材料问题")
    page.submit("#resolve")
    assert page.el("#status").get_attribute("data-status") == "resolved"
    history = page.text("#history")
    assert "认领" in history and "回复未通过合规检查" in history and "已解答开户材料问题" in history


def test_an_advisor_cannot_open_another_advisors_escalation(page, world):  # type: ignore[no-untyped-def]
    eid, _ = world.escalation("adv_a")
    page.sign_in_as("adv_b")
    page.open(f"/escalations/{eid}")
    assert "无权访问" in page.text("h1")
    page.open("/compliance")
    assert "无权访问" in page.text("h1")


def test_compliance_officer_dismisses_a_flag(page, world, shots):  # type: ignore[no-untyped-def]
    flag_id = world.flag("本产品年化收益保证8%，稳赚不赔。")
    page.sign_in_as("cmp")
    page.submit('a[href$="/console/compliance"]')
    page.submit(f'a[href$="/compliance/flags/{flag_id}"]')
    marks = [m.text for m in page.d.find_elements("css selector", "#evidence mark")]
    assert "稳赚不赔" in marks
    page.d.save_screenshot(str(shots / "flag.png"))
    page.type("#note", "演示话术，未发送给客户，误报")
    page.submit("#dismiss")
    assert page.el("#flag-status").get_attribute("data-status") == "dismissed"
    assert "演示话术" in page.text("#review-note")
    page.d.save_screenshot(str(shots / "dismissed.png"))
    with world.services.db.session() as s:
        flag = s.exec(select(ComplianceFlag).where(ComplianceFlag.id == flag_id)).one()
        assert (flag.status, flag.reviewer) == ("dismissed", "cmp")


def test_ops_try_a_question_then_create_and_publish_an_faq_that_answers(page, world, shots):  # type: ignore[no-untyped-def]
    page.sign_in_as("ops")
    page.submit('a[href$="/console/kb"]')
    page.submit('nav.tabs a[href$="/kb/try"]')
    page.type("#try-text", "开户需要准备什么材料？")
    page.submit("#try")
    assert page.el("#action").get_attribute("data-action") == "answer"
    assert "二代身份证" in page.text("#reply") and "faq_open_account" in page.text("#result")

    question = "国债逆回购最低多少钱起投？"
    answer = "上交所国债逆回购1000元起投，以1000元的整数倍递增；深交所同样为1000元起。"
    page.type("#try-text", question)
    page.submit("#try")
    assert page.el("#action").get_attribute("data-action") != "answer"  # not in the knowledge base yet

    page.submit('nav.tabs a[href$="/kb/new"]')
    page.type("#f-id", "faq_repo_minimum")
    page.type("#f-question", question)
    page.type("#f-similar", "逆回购起投金额\n逆回购最少买多少")
    page.type("#f-answer", answer)
    page.type("#f-tags", "逆回购，理财")
    page.submit("#save")
    assert page.el("#article-status").get_attribute("data-status") == "draft"
    page.d.save_screenshot(str(shots / "faq.png"))
    page.submit("#publish")
    assert page.el("#article-status").get_attribute("data-status") == "published"

    page.submit('a[href*="/kb/try?text="]')
    assert page.el("#action").get_attribute("data-action") == "answer"
    assert "1000元起投" in page.text("#reply") and "faq_repo_minimum" in page.text("#result")

    user = world.new_client("adv_b")
    assert world.sim.client_says(user, "逆回购最少买多少").delivered
    world.drain()
    assert "1000元起投" in world.sim.sent_to(user)[-1]["text"]

    # Deleting asks first (the console's only script, allowed by its Content-Security-Policy).
    page.d.get_log("browser")  # drop what earlier pages logged (403 and 422 pages are logged as errors)
    page.open("/kb/articles/faq_repo_minimum")
    page.el("#delete").click()
    page.d.switch_to.alert.dismiss()
    assert page.el("#article-status").get_attribute("data-status") == "published"
    old = page.d.find_element("tag name", "html")
    page.el("#delete").click()
    page.d.switch_to.alert.accept()
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(page.d, WAIT_S).until(ec.staleness_of(old))
    assert "已删除" in page.text(".notice.ok") and "faq_repo_minimum" not in page.text("main")
    assert not [e for e in page.d.get_log("browser") if e["level"] == "SEVERE"]  # no CSP violations, no 404s


def test_demo_mode_signs_in_by_picking_without_a_token(world):  # type: ignore[no-untyped-def]
    """Demo mode: the picker lists the staff; two demo identities (compliance, ops) need no row in the staff table
    (so escalation routing never sees them) and are accepted in demo mode only (see test_routes)."""
    import httpx

    http = httpx.Client(base_url=world.console, timeout=30, follow_redirects=False)
    login = http.get("/login").text
    assert 'data-userid="adv_a"' in login and 'data-userid="boss"' in login and 'type="password"' not in login
    assert http.post("/login", data={"userid": "demo_ops"}).status_code == 303
    assert http.get("/kb").status_code == 200 and http.get("/compliance").status_code == 403
    assert http.post("/login", data={"userid": "nobody"}).status_code == 401
