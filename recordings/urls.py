app_name = "recordings"
urlpatterns: list = []
