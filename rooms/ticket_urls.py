from django.urls import path

from . import ticket_views

app_name = "tickets"
urlpatterns = [
    path("", ticket_views.my_tickets, name="mine"),
    path("<int:pk>/", ticket_views.ticket_detail, name="detail"),
    path("<int:pk>/return/", ticket_views.ticket_return, name="return"),
]
