import pytest
from django.urls import reverse


@pytest.mark.django_db
def test_home_page_renders_for_anonymous_visitor(client):
    response = client.get(reverse("home"))
    assert response.status_code == 200
