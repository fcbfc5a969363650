"""Read /metrics as Prometheus would: parsed by prometheus-client's own parser of the text format."""

from prometheus_client.parser import text_string_to_metric_families


def samples(text: str) -> list:
    """Every sample of the text (name, labels, value); parsing fails on text Prometheus would refuse."""
    return [sample for family in text_string_to_metric_families(text) for sample in family.samples]


def value(text: str, name: str, **labels: str) -> float:
    """The sum of the samples called `name` whose labels include `labels` (0 if there is none)."""
    return sum(
        sample.value
        for sample in samples(text)
        if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items())
    )


def family_names(text: str) -> set[str]:
    return {family.name for family in text_string_to_metric_families(text)}
