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
        client.send_keys("wm_zhang")
        browser.find_element(By.ID, "text").send_keys("客服热线是多少？")
        browser.find_element(By.CSS_SELECTOR, "#say button[type=submit], #say button").click()
        WebDriverWait(browser, 30).until(lambda b: b.find_elements(By.CSS_SELECTOR, "#log .msg.bot"))
        [bot] = browser.find_elements(By.CSS_SELECTOR, "#log .msg.bot")
        assert "95000" in bot.text
        browser.find_element(By.ID, "text").send_keys("转人工")
        browser.find_element(By.CSS_SELECTOR, "#say button[type=submit], #say button").click()
        WebDriverWait(browser, 30).until(lambda b: len(b.find_elements(By.CSS_SELECTOR, "#log .msg.bot")) == 2)
        assert live.sim.wait_for(lambda: live.sim.app_messages("adv_li"), timeout=20)
    finally:
        browser.quit()
