"""History, transfers, orphans and the supervisor's view in a real browser (Debian chromium
through Playwright) against the real server, like test_desk_flow.py."""

from __future__ import annotations

from datetime import timedelta

import pytest
from playwright.async_api import expect

from handoff.clock import utc_now
from tests.desk_browser.test_desk_flow import Desk, add_agent, customer_says, handoff, publish_screenshots

pytestmark = pytest.mark.browser

SOPORTE_DONE = {"nombre": "Lucía", "motivo": "Consulta sobre un pedido", "numero_pedido": "98765", "resultado": "resuelto"}
VENTAS_DONE = {"nombre": "Camila", "productos": ["ropa"], "resultado": "venta"}


async def ended(
    server,
    agent,
    customer_id: str,
    name: str,
    *,
    says: str | None = None,
    mid: str = "",
    channel: str = "messenger",
    values: dict | None = None,
    label=None,
    context: list | None = None,
) -> int:
    """A terminated attention: handed off, (the customer writes), opened, labelled, ended."""
    service = server.runtime.service
    attention_id = await handoff(server, customer_id, name, channel=channel, context=context)
    if says:
        await customer_says(server, customer_id, says, mid or f"m_{customer_id}", channel)
    await service.attentions.open(attention_id, agent)
    if label is not None:
        await service.labels.apply(attention_id, agent, label.id)
    await service.attentions.terminate(attention_id, agent, values or SOPORTE_DONE)
    return attention_id


async def test_history_search_detail_and_new_outbound_attention(server, browser) -> None:
    ana = await add_agent(server, "ana", "Ana Agente", ["soporte", "ventas"])
    sara = await add_agent(server, "sara", "Sara Supervisora", [], role="supervisor")
    vip = await server.runtime.service.labels.create(sara, "VIP", "#d81b60")
    lucia = await ended(server, ana, "7101", "Lucía Fernández", says="Necesito la factura de marzo", label=vip)
    jorge = await ended(server, ana, "7102", "Jorge Luna", says="Cambio de dirección de envío")
    camila = await ended(server, ana, "8101", "Camila Rojas", says="¿Tienen talla 38?", channel="instagram", values=VENTAS_DONE)

    desk = await Desk.open(browser, server)
    await desk.login("ana")
    page = desk.page
    await expect(page.locator("#history-button")).to_be_enabled()
    await expect(page.locator("#supervisor-button")).to_be_hidden()  # an agent has no supervisor panel
    await expect(page.locator("#labels-admin-button")).to_be_hidden()
    await page.click("#history-button")
    dialog = page.locator("#history-dialog")
    await expect(dialog).to_be_visible()
    items = page.locator("#history-list .history-item")
    await expect(items).to_have_count(3)
    order = await items.evaluate_all("items => items.map(i => Number(i.dataset.id))")
    assert order == [camila, jorge, lucia]  # newest first
    first = page.locator(f'#history-list .history-item[data-id="{lucia}"]')
    await expect(first.locator(".history-name")).to_have_text("Lucía Fernández")
    await expect(first.locator(".history-campaign")).to_have_text("Soporte")
    await expect(first.locator(".history-type")).to_have_text("Entrante")
    await expect(first.locator('.chip:has-text("VIP")')).to_be_visible()
    await expect(first.locator(".history-ended")).not_to_be_empty()

    # Instagram: no outbound attention, with the reason.
    instagram = page.locator(f'#history-list .history-item[data-id="{camila}"]')
    await expect(instagram.locator(".history-outbound")).to_have_count(0)
    await expect(instagram.locator(".history-no-outbound")).to_have_text("Solo Messenger")
    await expect(instagram.locator(".history-no-outbound")).to_have_attribute(
        "title", "Instagram no permite que la empresa escriba primero: no se pueden iniciar atenciones salientes."
    )

    # One keyword over the message text; then a filter (label) on its own.
    await page.fill("#history-q", "factura")
    await page.press("#history-q", "Enter")
    await expect(items).to_have_count(1)
    await expect(items.first).to_have_attribute("data-id", str(lucia))
    await page.fill("#history-q", "Jorge")
    await page.press("#history-q", "Enter")
    await expect(items).to_have_count(1)
    await expect(items.first).to_have_attribute("data-id", str(jorge))
    await page.click("#history-reset")
    await expect(items).to_have_count(3)
    await page.select_option("#history-label", str(vip.id))
    await expect(items).to_have_count(1)
    await expect(items.first).to_have_attribute("data-id", str(lucia))
    await page.select_option("#history-campaign", "ventas")
    await expect(page.locator("#history-empty")).to_be_visible()
    await page.click("#history-reset")
    await expect(items).to_have_count(3)
    await desk.shot("desk-history")

    # The detail: the bot's context and the messages, the form with its labels, the audit trail.
    await first.locator(".history-view").click()
    transcript = page.locator("#history-transcript")
    await expect(transcript.locator(".context")).to_contain_text("Quiero hablar con una persona")
    await expect(transcript.locator(".msg", has_text="Necesito la factura de marzo")).to_be_visible()
    form = page.locator("#history-form-values")
    await expect(form.locator('[data-field="numero_pedido"] dt')).to_have_text("Número de pedido")
    await expect(form.locator('[data-field="numero_pedido"] dd')).to_have_text("98765")
    await expect(form.locator('[data-field="resultado"] dd')).to_have_text("Resuelto")  # the label, not the id
    trail = page.locator("#history-trail li")
    actions = await trail.evaluate_all("items => items.map(i => i.dataset.action)")
    assert actions == ["queued", "open", "label_applied", "terminate"], actions
    await expect(trail.nth(0)).to_contain_text("En cola en Soporte")
    await expect(trail.nth(1)).to_contain_text("Abierta por Ana Agente")
    await expect(trail.nth(2)).to_contain_text("Etiqueta «VIP» aplicada por Ana Agente")
    await expect(trail.nth(3)).to_contain_text("Terminada por Ana Agente")
    await desk.shot("desk-history-detail")

    # Nueva atención (Messenger, within 24 h of the customer's message): it opens in the main view.
    await page.click(".history-detail-head .history-outbound")
    await page.click("#outbound-confirm")  # it asks first (tests/desk_browser/test_composer_and_state.py)
    await expect(dialog).to_be_hidden()
    header = page.locator(".conv-header")
    await expect(header.locator(".conv-name")).to_have_text("Lucía Fernández")
    new_id = int((await header.locator(".conv-id").text_content() or "").lstrip("#"))
    assert new_id not in (lucia, jorge, camila)
    started = await server.runtime.service.attentions.get(new_id)
    assert (started.direction.value, started.state.value, started.agent_id) == ("outbound", "open", ana.id)
    await expect(desk.item(new_id)).to_have_attribute("data-state", "open")
    await expect(page.locator("#form-title")).to_have_text("Formulario - Messenger")
    await expect(page.locator("#terminate-button")).to_be_enabled()

    # Again from the history: the customer has an active attention now, the server says why.
    await page.click("#history-button")
    await page.locator(f'#history-list .history-item[data-id="{lucia}"] .history-outbound').click()
    await page.click("#outbound-confirm")
    await expect(page.locator("#history-error")).to_contain_text(f"#{new_id}")
    await page.locator("#history-dialog [data-close]").click()
    await expect(dialog).to_be_hidden()
    desk.assert_clean()
    publish_screenshots()


async def test_outbound_refused_outside_the_window_shows_the_reason(server, browser) -> None:
    ana = await add_agent(server, "ana", "Ana Agente", ["soporte"])
    long_ago = (utc_now() - timedelta(days=10)).isoformat()
    silent = await ended(
        server, ana, "7201", "Nora Silenciosa", context=[{"author": "customer", "text": "Hola", "time": long_ago}]
    )
    desk = await Desk.open(browser, server)
    await desk.login("ana")
    await desk.page.click("#history-button")
    await desk.page.locator(f'#history-list .history-item[data-id="{silent}"] .history-outbound').click()
    await desk.page.click("#outbound-confirm")
    error = desk.page.locator("#history-error")
    await expect(error).to_be_visible()
    await expect(error).to_contain_text("No se puede iniciar la atención")
    await expect(desk.page.locator("#history-dialog")).to_be_visible()
    desk.assert_clean()


async def test_transfers_and_orphans_reach_the_other_agents_live(server, browser) -> None:
    service = server.runtime.service
    await add_agent(server, "ana", "Ana Agente", ["soporte"])
    beto = await add_agent(server, "beto", "Beto Agente", ["soporte"])
    carla = await add_agent(server, "carla", "Carla Ventas", ["ventas"])
    olga = await add_agent(server, "olga", "Olga Ausente", ["soporte"])

    desks = {name: await Desk.open(browser, server) for name in ("ana", "beto", "carla")}
    for name, desk in desks.items():
        await desk.login(name)
    a, b, c = desks["ana"], desks["beto"], desks["carla"]

    # Orphan: Olga took one and never came to the desk; the server returns it to the queue.
    orphan = await handoff(server, "7301", "Pablo Huérfano")
    await service.attentions.open(orphan, olga)
    await expect(b.item(orphan)).to_have_count(0)
    returned = await service.presence.return_orphans(now=utc_now() + timedelta(hours=1))
    assert [attention.id for attention in returned] == [orphan]
    for desk in (a, b):
        await expect(desk.item(orphan)).to_have_attribute("data-state", "queued")
        await expect(desk.item(orphan).locator(".bell")).to_be_visible()
    await expect(c.item(orphan)).to_have_count(0)  # not her campaign

    # To another agent: Ana gives hers to Beto, who sees it appear open, live.
    mine = await handoff(server, "7302", "Rosa Traspaso")
    await customer_says(server, "7302", "Hola, sigo esperando", "m_t1")
    await a.item(mine).click()
    await a.page.click("#take-button")
    await expect(a.page.locator(".conv-header .conv-id")).to_have_text(f"#{mine}")
    await a.page.click("#transfer-button")
    menu = a.page.locator("#transfer-menu")
    await expect(menu.locator('.transfer-option[data-kind="agent"]')).to_have_count(2)  # Beto and Olga, not Ana
    await expect(menu.locator('.transfer-option[data-kind="agent"]', has_text="Beto Agente")).to_contain_text("En línea")
    await menu.locator("#transfer-note").fill("Espera el número de seguimiento")
    await menu.locator('.transfer-option[data-kind="agent"]', has_text="Beto Agente").click()
    await a.page.click("#transfer-confirm")  # it asks first
    await expect(a.item(mine)).to_have_count(0)
    await expect(a.page.locator("#conversation .empty-notice")).to_contain_text(f"#{mine}")
    await expect(b.item(mine)).to_have_attribute("data-state", "open")
    await expect(b.page.locator("#toasts")).to_contain_text(f"Le transfirieron la atención #{mine}")
    await b.item(mine).click()
    await expect(b.message("sigo esperando")).to_be_visible()
    assert (await service.attentions.get(mine)).agent_id == beto.id

    # To another campaign: Carla's Instagram attention (ventas) goes to Soporte's queue.
    sale = await handoff(server, "8301", "Inés Instagram", channel="instagram")
    await expect(c.page.locator('[data-channel-count="instagram"]')).to_have_text("1")
    await c.page.click('[data-channel-choice="instagram"]')
    await expect(c.item(sale)).to_have_attribute("data-state", "queued")
    await c.item(sale).click()
    await c.page.click("#take-button")
    await expect(c.page.locator(".conv-header .conv-id")).to_have_text(f"#{sale}")
    await c.page.click("#transfer-button")
    await c.page.locator('#transfer-menu .transfer-option[data-kind="campaign"]', has_text="Soporte").click()
    await c.page.click("#transfer-confirm")
    await expect(c.item(sale)).to_have_count(0)
    await expect(c.page.locator("#count-open")).to_have_text("0")
    for desk in (a, b):
        await expect(desk.page.locator('[data-channel-count="instagram"]')).to_have_text("1")
        await desk.page.click('[data-channel-choice="instagram"]')
        await expect(desk.item(sale)).to_have_attribute("data-state", "queued")
        await expect(desk.item(sale).locator(".bell")).to_be_visible()
    moved = await service.attentions.get(sale)
    assert (moved.campaign_id, moved.state.value, moved.agent_id) == ("soporte", "queued", None)
    assert carla.id != moved.agent_id
    for desk in (a, b, c):
        desk.assert_clean()


async def test_supervisor_manages_labels_and_agents_and_sees_the_overview(server, browser) -> None:
    service = server.runtime.service
    ana = await add_agent(server, "ana", "Ana Agente", ["soporte"])
    await add_agent(server, "sara", "Sara Supervisora", [], role="supervisor")
    queued = [await handoff(server, "7401", "Uno Espera"), await handoff(server, "7402", "Dos Espera")]
    held = await handoff(server, "7403", "Tres Abierta")

    agent_desk = await Desk.open(browser, server)
    await agent_desk.login("ana")
    await agent_desk.item(held).click()
    await agent_desk.page.click("#take-button")
    await expect(agent_desk.page.locator(".conv-header .conv-id")).to_have_text(f"#{held}")
    await expect(agent_desk.page.locator("#supervisor-button")).to_be_hidden()
    status = await agent_desk.page.evaluate(
        """async () => (await fetch('/webhooks/desk/api/supervisor/overview',
             {headers: {Authorization: 'Bearer ' + sessionStorage.getItem('desk.token')}})).status"""
    )
    assert status == 403

    boss = await Desk.open(browser, server)
    await boss.login("sara")
    page = boss.page
    await expect(page.locator("#supervisor-button")).to_be_visible()
    await page.click("#supervisor-button")
    await expect(page.locator("#supervisor-dialog")).to_be_visible()
    soporte = page.locator('.overview-campaigns tr[data-id="soporte"]')
    await expect(soporte.locator(".cell-queued")).to_have_text(str(len(queued)))
    await expect(soporte.locator(".cell-open")).to_have_text("1")
    await expect(soporte.locator(".cell-oldest")).not_to_have_text("—")
    await expect(soporte.locator(".cell-online")).to_have_text("1")
    await expect(page.locator(f'.overview-agents tr[data-id="{ana.id}"] .cell-open')).to_have_text("1")
    await expect(page.locator(f'.overview-agents tr[data-id="{ana.id}"] .presence')).to_have_text("En línea")

    # A new agent with a password and a campaign; then deactivated and activated again.
    await page.fill("#agent-username", "elena")
    await page.fill("#agent-display-name", "Elena Nueva")
    await page.fill("#agent-password", "corta")
    await page.click("#agent-create")
    await expect(page.locator("#agent-form-error")).to_be_visible()
    await page.fill("#agent-password", "una-clave-larga-1")
    await page.check('#agent-campaigns input[value="soporte"]')
    await page.click("#agent-create")
    row = page.locator(".agents-table tr", has_text="elena")
    await expect(row.locator(".cell-campaigns")).to_have_text("Soporte")
    await expect(row).to_have_attribute("data-state", "active")
    elena = next(agent for agent in await service.agents.all() if agent.username == "elena")
    assert elena.campaigns == ("soporte",) or list(elena.campaigns) == ["soporte"]
    await page.locator("#supervisor-dialog .panel-modal-body").evaluate("body => { body.scrollTop = 0; }")
    await boss.shot("desk-supervisor")
    await row.locator('[data-action="deactivate"]').click()
    await expect(row).to_have_attribute("data-state", "inactive")
    assert not (await service.agents.get(elena.id)).active
    await row.locator('[data-action="activate"]').click()
    await expect(row).to_have_attribute("data-state", "active")
    await page.locator("#supervisor-dialog [data-close]").click()

    # Labels: created with a colour, renamed, retired; the agent can then apply the new one.
    await page.click("#labels-admin-button")
    await page.fill("#label-new-name", "Urgente")
    await page.fill("#label-new-colour", "#c5221f")
    await page.click("#label-create")
    label_row = page.locator(".label-admin-row", has_text="Urgente")
    await expect(label_row).to_have_count(1)
    await page.fill("#label-new-name", "Temporal")
    await page.click("#label-create")
    temporal = page.locator(".label-admin-row", has_text="Temporal")
    await temporal.locator(".label-name-input").fill("Temporal 2")
    await temporal.locator('[data-action="save"]').click()
    renamed = page.locator('.label-admin-row:has(.chip:text-is("Temporal 2"))')
    await expect(renamed).to_have_count(1)
    await renamed.locator('[data-action="retire"]').click()
    await expect(renamed).to_have_attribute("data-state", "retired")
    names = {label.name: label for label in await service.labels.all(include_retired=True)}
    assert names["Urgente"].colour.lower() == "#c5221f" and names["Temporal 2"].retired
    await page.locator("#labels-dialog [data-close]").click()

    await agent_desk.page.click(".labels-button")
    options = agent_desk.page.locator(".labels-popover .label-option")
    await expect(options.filter(has_text="Urgente")).to_have_count(1)
    await expect(options.filter(has_text="Temporal 2")).to_have_count(0)
    await options.filter(has_text="Urgente").click()
    await expect(agent_desk.page.locator('.header-labels .chip:has-text("Urgente")')).to_be_visible()

    # A supervisor transfers anyone's attention: Ana's goes to Elena; it leaves Ana's list live.
    await expect(boss.item(held)).to_have_attribute("data-state", "open")
    await boss.item(held).click()
    await expect(page.locator(".conv-header .conv-id")).to_have_text(f"#{held}")
    await page.click("#transfer-button")
    await page.locator('#transfer-menu .transfer-option[data-kind="agent"]', has_text="Elena Nueva").click()
    await page.click("#transfer-confirm")
    await expect(agent_desk.item(held)).to_have_count(0)
    await expect(agent_desk.page.locator("#conversation .empty-notice")).to_contain_text(f"#{held}")
    assert (await service.attentions.get(held)).agent_id == elena.id
    agent_desk.assert_clean()
    boss.assert_clean()
    publish_screenshots()


async def test_history_pages_with_load_more_and_supervisors_filter_by_agent(server, browser) -> None:
    ana = await add_agent(server, "ana", "Ana Agente", ["soporte"])
    beto = await add_agent(server, "beto", "Beto Agente", ["soporte"])
    await add_agent(server, "sara", "Sara Supervisora", [], role="supervisor")
    for number in range(21):
        await ended(server, ana, f"75{number:02d}", f"Cliente {number:02d}")
    betos = await ended(server, beto, "7600", "Cliente de Beto")

    boss = await Desk.open(browser, server)
    await boss.login("sara")
    page = boss.page
    await page.click("#history-button")
    items = page.locator("#history-list .history-item")
    await expect(items).to_have_count(20)
    await expect(page.locator("#history-more")).to_have_text("Cargar más")
    await page.click("#history-more")
    await expect(items).to_have_count(22)
    await expect(page.locator("#history-more")).to_be_hidden()
    await expect(page.locator("#history-agent-filter")).to_be_visible()  # supervisors see everyone's history
    await page.select_option("#history-agent", str(beto.id))
    await expect(items).to_have_count(1)
    await expect(items.first).to_have_attribute("data-id", str(betos))
    await expect(items.first.locator(".history-agent")).to_have_text("Beto Agente")
    boss.assert_clean()
