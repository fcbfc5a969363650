from django.urls import path

from . import views

app_name = "moderation"
urlpatterns = [
    path("new/<str:target_type>/<int:target_id>/", views.report_create, name="create"),
]
