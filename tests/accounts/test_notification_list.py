"""Opening the notification list reads what it shows (issue 28, item 6): those notifications are
marked read, shown as new this once, and the badge clears; what arrives while the list is open is
seen too (static/js/notifications.js posts it to `notifications_seen`)."""

import pytest
from django.urls import reverse

from accounts import selectors, services
from accounts.models import Notification

from .conftest import sign_in

pytestmark = pytest.mark.django_db

LIST = reverse("accounts:notifications")


def notify(user, text: str) -> int:
    return services.notify(recipients=[user.pk], kind=Notification.Kind.REMINDER, text=text)[0]


def test_opening_the_list_marks_what_it_shows_read_and_clears_the_badge(client, user, other_user):
    notify(user, "First")
    notify(user, "Second")
    notify(other_user, "Not yours")
    sign_in(client, user)
    assert 'data-testid="unread-count">2<' in client.get(reverse("accounts:settings")).content.decode()

    html = client.get(LIST).content.decode()
    assert html.count("notification-unread") == 2 and html.count(">New</span>") == 2  # new this once
    assert 'data-unread-badge hidden data-testid="unread-count">0<' in html
    assert "data-mark-read hidden" in html  # nothing left for "Mark all read"
    assert selectors.unread_notification_count(user=user) == 0
    assert selectors.unread_notification_count(user=other_user) == 1

    html = client.get(LIST).content.decode()
    assert "notification-unread" not in html and ">New</span>" not in html


def test_only_the_page_shown_is_read(client, user):
    for number in range(25):
        notify(user, f"Reminder {number}")
    sign_in(client, user)
    html = client.get(LIST).content.decode()
    assert html.count("notification-unread") == 20
    # The five on the next page are not seen yet: the badge says so.
    assert selectors.unread_notification_count(user=user) == 5
    assert 'data-testid="unread-count">5<' in html
    html = client.get(LIST, {"page": 2}).content.decode()
    assert html.count("notification-unread") == 5
    assert selectors.unread_notification_count(user=user) == 0


def test_what_arrives_while_the_list_is_open_is_seen(csrf_client, user, other_user):
    sign_in(csrf_client, user)
    page = csrf_client.get(LIST).content.decode()
    assert f'data-seen-url="{reverse("accounts:notifications_seen")}"' in page
    arrived, elsewhere = notify(user, "Just now"), notify(other_user, "Someone else's")
    unseen = notify(user, "Not shown on the page yet")
    token = csrf_client.cookies["csrftoken"].value
    response = csrf_client.post(
        reverse("accounts:notifications_seen"),
        {"id": [arrived, elsewhere, "nonsense"], "csrfmiddlewaretoken": token},
    )
    assert response.status_code == 200
    assert response.json() == {"ok": True, "unread_count": 1}
    read = set(Notification.objects.filter(read_at__isnull=False).values_list("pk", flat=True))
    assert arrived in read and elsewhere not in read and unseen not in read


def test_seen_is_post_only_and_for_signed_in_people(client, csrf_client, user):
    sign_in(client, user)
    assert client.get(reverse("accounts:notifications_seen")).status_code == 405
    client.logout()
    assert client.post(reverse("accounts:notifications_seen"), {"id": [1]}).status_code == 403
