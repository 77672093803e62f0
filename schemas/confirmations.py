"""B2Core "Confirmations" API: provider and template bodies, views and list queries.

Field names are B2Core's camelCase (``isEnabled``, ``createTime``, …). Bodies are strict: an
unknown field is a 422, so a misspelt field is never silently dropped. B2Core's own PATCH
examples send every field, which is a valid PATCH here too.

PATCH semantics: a field that is absent (or null) keeps its stored value; ``resources``
replaces the whole list. ``options`` in a PATCH replaces the non-secret options (an omitted
non-secret option is removed); a secret option that is omitted or sent as ``********`` keeps
its stored value unless ``provider`` changes type, which drops every stored secret, or
``base_url`` changes, which needs every secret given again (422 naming each one): a stored
secret only ever goes to the host it was entered for.

Provider ``options`` are a free dict here and validated against their type's settings by
``schemas.provider_settings.check_options``, because a PATCH can only be checked once merged
with what is stored.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, ConfigDict, Field, StringConstraints

from schemas import limits
from schemas.base import OwnModel
from schemas.provider_settings import ProviderType

CODE_PLACEHOLDER = "%CODE%"
MAX_PRIORITY = limits.INTEGER_MAX
TEMPLATE_RESOURCE_KEY = "template"
CAPTION_RESOURCE_KEY = "caption"


def _underscore_locale(value: Any) -> Any:
    """``en-US`` and ``en_US`` name the same locale; B2Core spells it with an underscore."""
    return value.strip().replace("-", "_") if isinstance(value, str) else value


Locale = Annotated[
    str,
    BeforeValidator(_underscore_locale),
    StringConstraints(pattern=r"^[A-Za-z]{2,3}(?:_[A-Za-z0-9]{2,8})?$"),
]
Name = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=limits.NAME)
]
Caption = Annotated[str, StringConstraints(strip_whitespace=True, max_length=limits.CAPTION)]
Priority = Annotated[int, Field(ge=0, le=MAX_PRIORITY)]


def _require_code(text: str) -> str:
    if CODE_PLACEHOLDER not in text:
        raise ValueError(f"the template must contain {CODE_PLACEHOLDER}")
    return text


# An SMS without the code is useless, so every template text must carry the placeholder.
TemplateText = Annotated[
    str,
    StringConstraints(min_length=1, max_length=limits.TEMPLATE_TEXT),
    AfterValidator(_require_code),
]


class Resource(OwnModel):
    """A localized string: ``caption`` (shown per ``Accept-Language``) or ``template``."""

    key: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=limits.RESOURCE_KEY)
    ]
    locale: Locale
    value: Annotated[str, StringConstraints(max_length=limits.RESOURCE_VALUE)]


Resources = Annotated[list[Resource], Field(max_length=limits.RESOURCES)]


class _CamelModel(OwnModel):
    """Our own strict model whose Python names map to B2Core's camelCase on the wire."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_by_name=False)


class ProviderCreate(_CamelModel):
    """``POST /api/v2/confirmations/providers``: a new SMS provider (disabled unless enabled)."""

    name: Name
    caption: Caption = ""
    provider: ProviderType
    is_enabled: bool = Field(default=False, alias="isEnabled")
    priority: Priority = 0
    options: dict[str, Any]
    resources: Resources = Field(default_factory=list)


class ProviderPatch(_CamelModel):
    """``PATCH …/providers/{id}``: the fields to change; absent or null ones stay."""

    name: Name | None = None
    caption: Caption | None = None
    provider: ProviderType | None = None
    is_enabled: bool | None = Field(default=None, alias="isEnabled")
    priority: Priority | None = None
    options: dict[str, Any] | None = None
    resources: Resources | None = None


def _templates_carry_code(resources: list[Resource]) -> list[Resource]:
    for resource in resources:
        if resource.key == TEMPLATE_RESOURCE_KEY:
            _require_code(resource.value)
    return resources


TemplateResources = Annotated[Resources, AfterValidator(_templates_carry_code)]


class TemplateCreate(_CamelModel):
    """``POST /api/v2/confirmations/templates``: a message text holding ``%CODE%``."""

    name: Name
    caption: Caption = ""
    template: TemplateText
    is_enabled: bool = Field(default=False, alias="isEnabled")
    priority: Priority = 0
    resources: TemplateResources = Field(default_factory=list)


class TemplatePatch(_CamelModel):
    """``PATCH …/templates/{id}``: the fields to change; absent or null ones stay."""

    name: Name | None = None
    caption: Caption | None = None
    template: TemplateText | None = None
    is_enabled: bool | None = Field(default=None, alias="isEnabled")
    priority: Priority | None = None
    resources: TemplateResources | None = None


class _View(OwnModel):
    """A response body: built from Python names, serialized with B2Core's aliases."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_by_name=True)


class ProviderView(_View):
    """An SMS provider as the API shows it: secret options masked."""

    id: int
    name: str
    caption: str
    provider: str
    is_enabled: bool = Field(alias="isEnabled")
    priority: int
    options: dict[str, str]
    resources: list[Resource]
    create_time: dt.datetime = Field(alias="createTime")
    update_time: dt.datetime = Field(alias="updateTime")


class TemplateView(_View):
    """A confirmation template as the API shows it."""

    id: int
    name: str
    caption: str
    template: str
    is_enabled: bool = Field(alias="isEnabled")
    priority: int
    resources: list[Resource]
    create_time: dt.datetime = Field(alias="createTime")
    update_time: dt.datetime = Field(alias="updateTime")


# No stored name or caption is longer, so a longer filter could match nothing.
FilterText = Annotated[str, StringConstraints(max_length=limits.CAPTION)]


class ProviderFilter(_CamelModel):
    """``filter[…]`` of the provider list: exact matches."""

    provider: FilterText | None = None
    is_enabled: bool | None = Field(default=None, alias="isEnabled")
    name: FilterText | None = None
    caption: FilterText | None = None


class TemplateFilter(_CamelModel):
    """``filter[…]`` of the template list: exact matches."""

    is_enabled: bool | None = Field(default=None, alias="isEnabled")
    name: FilterText | None = None
    caption: FilterText | None = None


class _ListQuery(_CamelModel):
    """Paging and sorting shared by both lists; ``sort_by``/``sort_order`` as B2Core spells them."""

    limit: Annotated[int, Field(ge=1, le=100)] = 20
    offset: Annotated[int, Field(ge=0, le=MAX_PRIORITY)] = 0
    sort_by: Literal["createTime"] = "createTime"
    sort_order: Literal["asc", "desc"] = "asc"


class ProviderListQuery(_ListQuery):
    """The query of ``GET /api/v2/confirmations/providers``."""

    filter: ProviderFilter = ProviderFilter()


class TemplateListQuery(_ListQuery):
    """The query of ``GET /api/v2/confirmations/templates``."""

    filter: TemplateFilter = TemplateFilter()


def _language(locale: str) -> str:
    return locale.replace("-", "_").partition("_")[0].lower()


def localized_value(resources: Iterable[Mapping[str, str]], *, key: str, locale: str) -> str | None:
    """The value of the ``key`` resource for ``locale``: exact match, else same language."""
    wanted = locale.replace("-", "_").lower()
    candidates = [resource for resource in resources if resource.get("key") == key]
    for resource in candidates:
        if resource.get("locale", "").replace("-", "_").lower() == wanted:
            return resource.get("value")
    for resource in candidates:
        if _language(resource.get("locale", "")) == _language(wanted):
            return resource.get("value")
    return None
