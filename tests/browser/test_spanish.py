"""The site in Spanish in a real browser (docs/i18n.md): a browser that asks for Spanish signs up,
reads the home page and runs a live room in Spanish, the scripts' strings included."""

import pytest
from playwright.sync_api import expect

from accounts.models import User

pytestmark = pytest.mark.browser

PASSWORD = "a-long-and-unusual-password"


def test_sign_up_home_and_a_live_room_in_spanish(browser, asgi_live_server):
    context = browser.new_context(locale="es-ES", viewport={"width": 1200, "height": 900})
    try:
        page = context.new_page()
        page.set_default_timeout(15_000)
        page.goto(f"{asgi_live_server.url}/accounts/signup/")
        expect(page.locator("html")).to_have_attribute("lang", "es")
        expect(page.get_by_text("Nombre visible")).to_be_visible()
        page.fill('input[name="email"]', "lucia@example.com")
        page.fill('input[name="username"]', "lucia")
        page.fill('input[name="password1"]', PASSWORD)
        page.fill('input[name="password2"]', PASSWORD)
        page.locator("form button[type=submit]").last.click()
        expect(page.locator(".nav-handle")).to_have_text("@lucia")
        assert User.objects.get(handle="lucia").language == "es"

        page.goto(f"{asgi_live_server.url}/")
        expect(page.locator("html")).to_have_attribute("lang", "es")
        expect(page.get_by_role("link", name="Abrir una sala").first).to_be_visible()
        expect(page.get_by_role("button", name="Cerrar sesión")).to_be_visible()

        page.goto(f"{asgi_live_server.url}/rooms/new/")
        page.locator('input[name="title"]').fill("Charla de la mañana")
        page.locator("form button[type=submit]", has_text="Crear sala").click()
        expect(page.locator("h1#room-title")).to_have_text("Charla de la mañana")
        expect(page.locator("html")).to_have_attribute("lang", "es")
        # Written by static/js/room.js from the JavaScript catalogue.
        expect(page.get_by_test_id("muted-hint")).to_have_text(
            "Estás en vivo y silenciado. Activa el micrófono para hablar."
        )
        expect(page.get_by_test_id("mic-toggle")).to_have_text("Activar micrófono")
        expect(page.get_by_test_id("end-room")).to_have_text("Terminar sala")
        assert page.evaluate("window.django.gettext('Raise hand')") == "Levantar la mano"
    finally:
        context.close()
