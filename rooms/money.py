"""Amounts of money as people read them. Amounts are integers in the currency's minor unit (cents)."""

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "CAD": "CA$", "AUD": "A$", "JPY": "¥"}


def format_amount(amount: int | None, currency: str) -> str:
    """ "$12.50", "€3.00", "12.50 CHF"."""
    if amount is None:
        return ""
    value = f"{Decimal(amount) / 100:,.2f}"
    symbol = SYMBOLS.get(currency.upper())
    return f"{symbol}{value}" if symbol else f"{value} {currency.upper()}"


def parse_amount(text) -> int | None:
    """The minor-unit amount of "12.5" or Decimal("12.50"); None if it is not a number with at most
    two decimals."""
    try:
        value = Decimal(str(text).strip())
    except (InvalidOperation, ValueError):
        return None
    if not value.is_finite():
        return None
    cents = value * 100
    if cents != cents.to_integral_value(rounding=ROUND_HALF_UP):
        return None
    return int(cents)
