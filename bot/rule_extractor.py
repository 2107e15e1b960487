"""The shape both of the bot's rule-based NLU components share: one entity, found by a
fixed rule in the customer's words, nothing to train or load.

Payloads (`/receive_attachment{...}`, buttons' `/inform_order_number{...}`) are not the
customer's words and carry their own entities: they are left alone. Whatever another
extractor guessed for the same entity is replaced, so one rule decides (and a message
processed twice still carries one such entity).
"""

from __future__ import annotations

from typing import Any, ClassVar

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.extractors.extractor import EntityExtractorMixin
from rasa.shared.constants import INTENT_MESSAGE_PREFIX
from rasa.shared.nlu.constants import (
    ENTITIES,
    ENTITY_ATTRIBUTE_END,
    ENTITY_ATTRIBUTE_START,
    ENTITY_ATTRIBUTE_TYPE,
    ENTITY_ATTRIBUTE_VALUE,
    TEXT,
)
from rasa.shared.nlu.training_data.message import Message

Found = tuple[str, int, int]  # the value and its span in the text (Rasa needs one per entity)


class RuleEntityExtractor(GraphComponent, EntityExtractorMixin):
    entity: ClassVar[str]

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> RuleEntityExtractor:
        """Creates the component; it has nothing to train or load."""
        return cls()

    def find(self, text: str) -> Found | None:
        raise NotImplementedError

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            self._annotate(message)
        return messages

    def _annotate(self, message: Message) -> None:
        text = message.get(TEXT) or ""
        if text.lstrip().startswith(INTENT_MESSAGE_PREFIX):
            return
        entities = [entity for entity in message.get(ENTITIES, []) if entity.get(ENTITY_ATTRIBUTE_TYPE) != self.entity]
        found = self.find(text)
        if found is not None:
            value, start, end = found
            entity: dict[str, Any] = {
                ENTITY_ATTRIBUTE_TYPE: self.entity,
                ENTITY_ATTRIBUTE_VALUE: value,
                ENTITY_ATTRIBUTE_START: start,
                ENTITY_ATTRIBUTE_END: end,
            }
            entities.extend(self.add_extractor_name([entity]))
        message.set(ENTITIES, entities, add_to_output=True)
