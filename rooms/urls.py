from django.urls import path

from . import ticket_views, views

# With these, spaces_project/urls.py routes recordings' pages of rooms in this namespace: the room's
# page, rooms:detail (<int:pk>/), and rooms:search (search/).
app_name = "rooms"
urlpatterns = [
    path("new/", views.room_create, name="create"),
    path("live-bar/", views.live_bar, name="live_bar"),
    path("topics/<slug:slug>/", views.topic, name="topic"),
    path("<int:pk>/edit/", views.room_edit, name="edit"),
    path("<int:pk>/start/", views.room_start, name="start"),
    path("<int:pk>/end/", views.room_end, name="end"),
    path("<int:pk>/backstage/", views.room_backstage, name="backstage"),
    path("<int:pk>/cancel/", views.room_cancel, name="cancel"),
    path("<int:pk>/reminder/", views.reminder_set, name="reminder_set"),
    path("<int:pk>/reminder/delete/", views.reminder_delete, name="reminder_delete"),
    path("<int:pk>/invite/", views.room_invite, name="invite"),
    path("<int:pk>/invite/suggestions/", views.invite_suggestions, name="invite_suggestions"),
    path("<int:pk>/calendar.ics", views.room_calendar, name="calendar"),
    path("<int:pk>/tickets/buy/", ticket_views.ticket_buy, name="ticket_buy"),
    path("<int:pk>/tickets/sales/", ticket_views.ticket_sales, name="ticket_sales"),
    path("<int:pk>/tickets/buyers.csv", ticket_views.ticket_buyers_csv, name="ticket_buyers"),
]
