"""A person plays the client on the simulator's chat page in a real browser and sees the bot's reply."""

from __future__ import annotations

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from tests.support.browser import chrome


@pytest.mark.browser
def test_typed_message_gets_the_bots_reply_on_the_page(live, tmp_path):
    browser = chrome(tmp_path / "profile")
    try:
        browser.get(live.sim.chat_url)
        client = browser.find_element(By.ID, "client")
        client.clear()
        client.send_keys("wm_page")
        browser.find_element(By.CSS_SELECTOR, "#who button").click()  # the client opens the chat: a welcome

        def bot_texts(b):  # type: ignore[no-untyped-def]
            return [e.text for e in b.find_elements(By.CSS_SELECTOR, "#log .msg.bot")]

        WebDriverWait(browser, 30).until(lambda b: any("欢迎" in t for t in bot_texts(b)))
        browser.find_element(By.ID, "text").send_keys("客服热线是多少？")
        browser.find_element(By.CSS_SELECTOR, "#say button").click()
        WebDriverWait(browser, 30).until(lambda b: any("95000" in t for t in bot_texts(b)))
        browser.find_element(By.ID, "text").send_keys("转人工")
        browser.find_element(By.CSS_SELECTOR, "#say button").click()
        WebDriverWait(browser, 30).until(lambda b: len(bot_texts(b)) == 3)
        assert live.sim.wait_for(lambda: live.sim.app_messages("adv_li"), timeout=20)
    finally:
        browser.quit()
