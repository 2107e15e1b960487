"""Campaigns: teams, their queues and forms, and the routing of handoffs (data/campaigns.yml).

Check a file with ``python -m handoff.campaigns check data/campaigns.yml``.
"""

from handoff.campaigns.domain import DEFAULT_DOMAIN_PATH, BotVocabulary, read_domain
from handoff.campaigns.forms import FieldError, normalize_form, prefill_form, validate_form, validate_value
from handoff.campaigns.loader import (
    DEFAULT_ORPHAN_TIMEOUT,
    CampaignConfigError,
    load_campaigns,
    parse_campaigns,
    parse_duration,
)
from handoff.campaigns.model import (
    CHOICE_TYPES,
    Campaign,
    CampaignBook,
    Conversation,
    CustomerLine,
    FieldType,
    FormField,
    LocalizedText,
    Prefill,
    PrefillSource,
    Routing,
    RoutingRule,
)

DEFAULT_CAMPAIGNS_PATH = "data/campaigns.yml"

__all__ = [
    "CHOICE_TYPES",
    "DEFAULT_CAMPAIGNS_PATH",
    "DEFAULT_DOMAIN_PATH",
    "DEFAULT_ORPHAN_TIMEOUT",
    "BotVocabulary",
    "Campaign",
    "CampaignBook",
    "CampaignConfigError",
    "Conversation",
    "CustomerLine",
    "FieldError",
    "FieldType",
    "FormField",
    "LocalizedText",
    "Prefill",
    "PrefillSource",
    "Routing",
    "RoutingRule",
    "load_campaigns",
    "normalize_form",
    "parse_campaigns",
    "parse_duration",
    "prefill_form",
    "read_domain",
    "validate_form",
    "validate_value",
]
