import re

import pytest
from allauth.account.models import EmailAddress
from django.core import mail
from django.urls import reverse

from accounts.models import User
from accounts.services import user_suspend
from tests.factories import PASSWORD, UserFactory

from .conftest import csrf_token

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "a-brand-new-long-passphrase"


def signup(client, **overrides):
    token = csrf_token(client, reverse("account_signup"))
    data = {
        "csrfmiddlewaretoken": token,
        "email": "newcomer@example.com",
        "username": "Newcomer",
        "display_name": "New Comer",
        "password1": PASSWORD,
        "password2": PASSWORD,
        **overrides,
    }
    return client.post(reverse("account_signup"), data)


def test_signup_page_uses_the_site_layout_and_asks_for_the_handle(client):
    response = client.get(reverse("account_signup"))
    html = response.content.decode()
    assert response.status_code == 200
    assert 'class="site-header"' in html  # our base.html, not allauth's bare layout
    for name in ("email", "username", "display_name", "password1", "password2"):
        assert f'name="{name}"' in html
    assert ">Handle" in html
    assert html.index('name="username"') < html.index('name="display_name"') < html.index('name="password1"')


def test_signup_creates_the_user_with_handle_and_name_and_sends_verification(csrf_client):
    response = signup(csrf_client)

    assert response.status_code == 302
    user = User.objects.get(email="newcomer@example.com")
    assert user.handle == "Newcomer"
    assert user.display_name == "New Comer"
    # Verification is optional locally: the new user is signed in at once and gets a confirmation email.
    assert csrf_client.get(reverse("accounts:profile_edit")).status_code == 200
    assert len(mail.outbox) == 1
    assert "newcomer@example.com" in mail.outbox[0].to
    confirm_url = re.search(r"http://testserver(/accounts/confirm-email/\S+)", mail.outbox[0].body).group(1)

    page = csrf_client.get(confirm_url)
    assert page.status_code == 200 and 'class="site-header"' in page.content.decode()
    token = csrf_client.cookies["csrftoken"].value
    csrf_client.post(confirm_url, {"csrfmiddlewaretoken": token})
    assert EmailAddress.objects.get(user=user).verified


def test_signup_refuses_a_handle_taken_in_another_case(csrf_client):
    UserFactory(handle="Alice", email="alice@example.com")

    response = signup(csrf_client, username="aLICE", email="other@example.com")

    assert response.status_code == 200
    assert "username" in response.context["form"].errors
    assert not User.objects.filter(email="other@example.com").exists()


def test_signup_refuses_an_invalid_handle(csrf_client):
    response = signup(csrf_client, username="no spaces!")
    assert response.status_code == 200
    assert "username" in response.context["form"].errors
    assert not User.objects.filter(email="newcomer@example.com").exists()


def test_signup_refuses_an_email_taken_in_another_case(csrf_client):
    UserFactory(handle="bob", email="bob@example.com")
    response = signup(csrf_client, email="BOB@example.com")
    assert response.status_code == 200
    assert "email" in response.context["form"].errors


def test_sign_in_with_email_then_sign_out_by_post(csrf_client, user):
    token = csrf_token(csrf_client, reverse("account_login"))
    response = csrf_client.post(
        reverse("account_login"), {"csrfmiddlewaretoken": token, "login": user.email, "password": PASSWORD}
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("home")
    assert csrf_client.get(reverse("accounts:notifications")).status_code == 200

    # GET shows a confirmation page only; the sign-out itself is a POST.
    assert csrf_client.get(reverse("account_logout")).status_code == 200
    assert csrf_client.get(reverse("accounts:notifications")).status_code == 200
    token = csrf_client.cookies["csrftoken"].value
    csrf_client.post(reverse("account_logout"), {"csrfmiddlewaretoken": token})
    assert csrf_client.get(reverse("accounts:notifications")).status_code == 302


def test_sign_in_with_wrong_password_shows_an_error(csrf_client, user):
    token = csrf_token(csrf_client, reverse("account_login"))
    response = csrf_client.post(
        reverse("account_login"), {"csrfmiddlewaretoken": token, "login": user.email, "password": "wrong"}
    )
    assert response.status_code == 200
    assert response.context["form"].errors
    assert 'class="site-header"' in response.content.decode()


def test_password_reset_sends_an_email_and_the_link_sets_a_new_password(csrf_client, user):
    token = csrf_token(csrf_client, reverse("account_reset_password"))
    response = csrf_client.post(
        reverse("account_reset_password"), {"csrfmiddlewaretoken": token, "email": user.email}
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("account_reset_password_done")
    assert csrf_client.get(response["Location"]).status_code == 200
    assert len(mail.outbox) == 1 and mail.outbox[0].to == [user.email]

    link = re.search(r"http://testserver(/accounts/password/reset/key/\S+)", mail.outbox[0].body).group(1)
    page = csrf_client.get(link, follow=True)
    assert page.status_code == 200
    form_url = page.redirect_chain[-1][0] if page.redirect_chain else link
    token = csrf_client.cookies["csrftoken"].value
    response = csrf_client.post(
        form_url, {"csrfmiddlewaretoken": token, "password1": NEW_PASSWORD, "password2": NEW_PASSWORD}
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("account_reset_password_from_key_done")
    assert csrf_client.get(response["Location"]).status_code == 200
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)


def test_password_reset_for_unknown_email_sends_no_reset_link(csrf_client):
    token = csrf_token(csrf_client, reverse("account_reset_password"))
    csrf_client.post(
        reverse("account_reset_password"), {"csrfmiddlewaretoken": token, "email": "ghost@example.com"}
    )
    assert all("/password/reset/key/" not in message.body for message in mail.outbox)


def test_email_management_page_renders_in_the_site_layout(client, user):
    EmailAddress.objects.create(user=user, email=user.email, primary=True, verified=False)
    client.login(handle=user.handle, password=PASSWORD)
    response = client.get(reverse("account_email"))
    html = response.content.decode()
    assert response.status_code == 200
    assert 'class="site-header"' in html and user.email in html and "Unverified" in html


def test_mandatory_verification_keeps_new_users_out_until_they_confirm(csrf_client, settings):
    settings.ACCOUNT_EMAIL_VERIFICATION = "mandatory"

    response = signup(csrf_client)

    assert response.status_code == 302
    page = csrf_client.get(response["Location"])
    assert "Verify Your Email Address" in page.content.decode()
    assert 'class="site-header"' in page.content.decode()
    assert csrf_client.get(reverse("accounts:notifications")).status_code == 302  # not signed in
    assert len(mail.outbox) == 1

    confirm_url = re.search(r"http://testserver(/accounts/confirm-email/\S+)", mail.outbox[0].body).group(1)
    csrf_client.get(confirm_url)
    csrf_client.post(confirm_url, {"csrfmiddlewaretoken": csrf_client.cookies["csrftoken"].value})
    token = csrf_token(csrf_client, reverse("account_login"))
    response = csrf_client.post(
        reverse("account_login"),
        {"csrfmiddlewaretoken": token, "login": "newcomer@example.com", "password": PASSWORD},
    )
    assert response.status_code == 302
    assert csrf_client.get(reverse("accounts:notifications")).status_code == 200


def test_a_suspended_account_cannot_sign_in(csrf_client, user):
    user_suspend(user=user)
    token = csrf_token(csrf_client, reverse("account_login"))
    response = csrf_client.post(
        reverse("account_login"),
        {"csrfmiddlewaretoken": token, "login": user.email, "password": PASSWORD},
        follow=True,
    )
    assert "Your account is suspended." in [str(m) for m in response.context["messages"]]
    assert not response.context["user"].is_authenticated
    assert csrf_client.get(reverse("accounts:notifications")).status_code == 302  # still signed out
