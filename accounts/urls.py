from django.urls import path

from . import push_views, views

# Included in the accounts namespace with the person's pages other apps draw: the profile
# (accounts:profile) and the host's calendar (accounts:calendar); spaces_project/urls.py.
app_name = "accounts"
urlpatterns = [
    path("@<str:handle>/followers/", views.followers, name="followers"),
    path("@<str:handle>/following/", views.following, name="following"),
    path("@<str:handle>/follow/", views.follow, name="follow"),
    path("@<str:handle>/unfollow/", views.unfollow, name="unfollow"),
    path("@<str:handle>/block/", views.block, name="block"),
    path("@<str:handle>/unblock/", views.unblock, name="unblock"),
    path("settings/profile/", views.profile_edit, name="profile_edit"),
    path("settings/account/", views.account_settings, name="settings"),
    path("settings/account/sign-out-everywhere/", views.sign_out_everywhere, name="sign_out_everywhere"),
    path("settings/account/delete/", views.account_delete, name="delete"),
    path("settings/account/time-zone/", views.account_time_zone, name="time_zone"),
    path("settings/language/", views.set_language, name="set_language"),
    path("settings/export/", views.data_export_start, name="export_start"),
    path("settings/export/<int:pk>/status/", views.data_export_status, name="export_status"),
    path("settings/export/<int:pk>/download/", views.data_export_download, name="export_download"),
    path("notifications/", views.notifications, name="notifications"),
    path("notifications/read/", views.notifications_read, name="notifications_read"),
    path("notifications/seen/", views.notifications_seen, name="notifications_seen"),
    path("settings/notifications/", views.notification_settings, name="notification_settings"),
    path("notifications/unsubscribe/<str:token>/", views.unsubscribe, name="unsubscribe"),
    path("push/subscriptions/", push_views.push_subscribe, name="push_subscribe"),
    path("push/subscriptions/delete/", push_views.push_unsubscribe, name="push_unsubscribe"),
]
