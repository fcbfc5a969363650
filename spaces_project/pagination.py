"""One page of a list, with links to the pages before and after that keep the rest of the query."""

from django.core.paginator import Page, Paginator
from django.http import HttpRequest


def paginate(request: HttpRequest, items, *, per_page: int, param: str = "page") -> Page:
    """One page of `items`, read from `?<param>=`, carrying `previous_url` and `next_url` (empty at
    either end) that keep the other query parameters (templates/rooms/_pagination.html)."""
    page = Paginator(items, per_page).get_page(request.GET.get(param))

    def url_for(number: int) -> str:
        query = request.GET.copy()
        query[param] = str(number)
        return "?" + query.urlencode()

    page.previous_url = url_for(page.previous_page_number()) if page.has_previous() else ""
    page.next_url = url_for(page.next_page_number()) if page.has_next() else ""
    return page
