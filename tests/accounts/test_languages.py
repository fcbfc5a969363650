"""Pages, sign-up, emails and notices in the person's language (docs/i18n.md): Spanish by
Accept-Language, by the footer's choice, and by the account's saved language across sign-ins."""

import zipfile
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import timezone, translation

from accounts.models import DataExport, Notification, User
from accounts.services import data_export_build, data_export_directory, data_export_request
from rooms import services
from rooms.models import Room
from spaces_project.errors import ServiceError
from spaces_project.websocket import socket_language
from tests.factories import RoomFactory, UserFactory

pytestmark = pytest.mark.django_db

PASSWORD = "a-long-and-unusual-password"
SPANISH_MONTHS = ["ene", "feb", "mar", "abr", "may", "jun", "jul", "ago", "sep", "oct", "nov", "dic"]


def spanish() -> Client:
    return Client(HTTP_ACCEPT_LANGUAGE="es")


def post_with_token(client: Client, url: str, data: dict, *, page: str | None = None):
    client.get(page or url)
    return client.post(url, {**data, "csrfmiddlewaretoken": client.cookies["csrftoken"].value})


def test_the_home_page_speaks_the_language_the_browser_asks_for():
    english = Client(HTTP_ACCEPT_LANGUAGE="en").get("/").content.decode()
    page = spanish().get("/").content.decode()
    assert '<html lang="en">' in english and "Sign in" in english
    assert '<html lang="es">' in page
    assert "Iniciar sesión" in page and "Registrarse" in page
    assert "Busca salas, @usuarios, #temas" in page
    # The scripts' catalogue is loaded before the modules, and answers in Spanish too.
    assert 'src="/jsi18n/"' in page
    catalogue = spanish().get("/jsi18n/").content.decode()
    assert "Levantar la mano" in catalogue


def test_an_unknown_language_falls_back_to_english():
    page = Client(HTTP_ACCEPT_LANGUAGE="de").get("/").content.decode()
    assert '<html lang="en">' in page and "Sign in" in page


def test_signing_up_in_spanish_saves_spanish_on_the_account():
    client = spanish()
    page = client.get("/accounts/signup/").content.decode()
    assert '<html lang="es">' in page and "Nombre visible" in page
    response = post_with_token(
        client,
        "/accounts/signup/",
        {"email": "ana@example.com", "username": "ana", "password1": PASSWORD, "password2": PASSWORD},
    )
    assert response.status_code == 302
    assert User.objects.get(handle="ana").language == "es"


def test_a_visitor_chooses_a_language_in_the_footer():
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    response = post_with_token(client, "/settings/language/", {"language": "es", "next": "/"}, page="/")
    assert response.status_code == 302
    assert client.cookies[settings.LANGUAGE_COOKIE_NAME].value == "es"
    assert '<html lang="es">' in client.get("/").content.decode()


def test_a_chosen_language_persists_across_sign_in():
    person = UserFactory(email="leo@example.com", password=PASSWORD)
    first = Client(HTTP_ACCEPT_LANGUAGE="en")
    first.force_login(person)
    post_with_token(first, "/settings/language/", {"language": "es", "next": "/settings/account/"}, page="/")
    person.refresh_from_db()
    assert person.language == "es"

    # Another browser, asking for English: signing in brings the account's Spanish with it.
    other = Client(HTTP_ACCEPT_LANGUAGE="en")
    assert '<html lang="en">' in other.get("/").content.decode()
    response = post_with_token(other, "/accounts/login/", {"login": "leo@example.com", "password": PASSWORD})
    assert response.status_code == 302
    page = other.get("/settings/account/").content.decode()
    assert '<html lang="es">' in page and "Cuenta y datos" in page

    # Back to the browser's language: the account forgets its choice, the cookie goes.
    post_with_token(other, "/settings/language/", {"language": "", "next": "/"}, page="/")
    person.refresh_from_db()
    assert person.language == ""
    assert '<html lang="en">' in other.get("/").content.decode()


def test_a_reminder_email_is_written_in_its_recipients_language(django_capture_on_commit_callbacks):
    host = UserFactory(display_name="Hana")
    ana = UserFactory(language="es")
    bob = UserFactory()
    room = services.room_create(
        host=host, title="Té a las cinco", start_now=False, scheduled_for=timezone.now() + timedelta(hours=2)
    )
    for person in (ana, bob):
        services.reminder_set(room_id=room.pk, user=person)
    Room.objects.filter(pk=room.pk).update(scheduled_for=timezone.now() - timedelta(seconds=5))
    with django_capture_on_commit_callbacks(execute=True):
        assert services.notices_send_due() == 2

    assert Notification.objects.get(recipient=ana).text == "Empieza ahora: Té a las cinco con Hana"
    assert Notification.objects.get(recipient=bob).text == "Starting now: Té a las cinco with Hana"
    emails = {message.to[0]: message for message in mail.outbox}
    spanish_email, english_email = emails[ana.email], emails[bob.email]
    assert spanish_email.subject == "Spaces: Empieza ahora: Té a las cinco con Hana"
    assert "Recibes este correo porque tienes activados los correos de: recordatorios." in spanish_email.body
    assert "Deja de recibir estos correos (con un clic):" in spanish_email.body
    assert english_email.subject == "Spaces: Starting now: Té a las cinco with Hana"
    assert "You get this email because email is on for: reminders." in english_email.body


def test_a_notice_naming_a_time_writes_it_in_the_readers_language(django_capture_on_commit_callbacks):
    host = UserFactory(display_name="Hana")
    ana = UserFactory(language="es", time_zone="Europe/Madrid")
    when = (timezone.now() + timedelta(days=10)).replace(hour=19, minute=0, second=0, microsecond=0)
    room = services.room_create(host=host, title="Jazz", start_now=False, scheduled_for=when)
    services.reminder_set(room_id=room.pk, user=ana)
    with django_capture_on_commit_callbacks(execute=True):
        services.room_cancel(room=room, actor=host)
    text = Notification.objects.get(recipient=ana).text
    assert text.startswith("Hana canceló Jazz (")
    month = SPANISH_MONTHS[when.month - 1]
    local = when.astimezone(ZoneInfo("Europe/Madrid"))
    assert (
        f" {local.day} {month}, {local:%H:%M} " in text.lower()
    )  # the month's name in Spanish, the time in Madrid


def test_a_room_socket_speaks_the_language_of_its_page():
    """Refusals sent over a room's socket are written in its page's language (rooms/consumers.py)."""
    assert socket_language({"headers": [(b"accept-language", b"es-ES,es;q=0.9,en;q=0.5")]}) == "es"
    cookie = (b"cookie", f"csrftoken=x; {settings.LANGUAGE_COOKIE_NAME}=es".encode())
    assert socket_language({"headers": [cookie, (b"accept-language", b"en")]}) == "es"
    assert socket_language({"headers": [(b"accept-language", b"de, fr;q=0.8")]}) == "en"
    assert socket_language({"headers": []}) == "en"


def test_the_data_archive_speaks_its_owners_language(settings, tmp_path):
    """The archive's README.txt is written in its owner's language, and its steps (kept in English
    in DataExport.step) are shown in the page's language."""
    settings.MEDIA_ROOT = tmp_path / "media"
    person = UserFactory(language="es")
    english = UserFactory(language="")
    for user in (person, english):
        export = data_export_build(export_id=data_export_request(user=user).pk)
        with zipfile.ZipFile(data_export_directory() / export.file_name) as archive:
            readme = archive.read("README.txt").decode()
        if user is person:
            assert readme.startswith("Este archivo contiene los datos que Spaces guarda sobre ti.")
            assert "a quién sigues y quién te sigue" in readme and "who you follow" not in readme
        else:
            assert readme.startswith("This archive holds the data Spaces keeps about you.")
            assert "who you follow and who follows you" in readme
    assert DataExport.objects.get(user=person).step == "Ready"  # the msgid; shown translated
    client = spanish()
    client.force_login(person)
    export = DataExport.objects.get(user=person)
    status = client.get(reverse("accounts:export_status", args=[export.pk])).json()
    assert status["step"] == "Listo"


def test_a_refusal_is_one_whole_sentence_in_spanish():
    """Each refusal is its own msgid: no English verb dropped into a Spanish sentence."""
    room = RoomFactory(state=Room.State.LIVE)
    stranger = UserFactory()
    with translation.override("es"), pytest.raises(ServiceError) as refused:
        services.room_end(room=room, actor=stranger)
    assert refused.value.message == "Solo la persona anfitriona puede terminar esta sala."
    with translation.override("en"), pytest.raises(ServiceError) as refused:
        services.room_end(room=room, actor=stranger)
    assert refused.value.message == "Only the host can end this room."
