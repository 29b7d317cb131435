"""HTML pages from the Jinja2 templates in ``templates/``, with autoescaping.

Every value a template prints is HTML-escaped unless the template says otherwise (none does): a
hint that quotes a student's exception, a file name, a note about a repaired file, a student id
can never inject markup into a page.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from .model import fmt

TEMPLATES = Path(__file__).resolve().parent / "templates"


@lru_cache(maxsize=1)
def environment() -> Environment:
    """The templates' environment: autoescaping on for every template, undefined names an error
    (a typo in a template fails, rather than printing nothing), and the filter ``points``
    (:func:`~autograder.reports.model.fmt`)."""
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True,
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                      keep_trailing_newline=True)
    env.filters["points"] = fmt
    return env


def render(template: str, **context) -> str:
    """The page ``templates/<template>`` rendered with ``context``."""
    return environment().get_template(template).render(**context)
