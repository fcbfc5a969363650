from django.http import Http404


def report_create(request, target_type, target_id):
    raise Http404
