"""`scrm demo`: the whole product on embedded defaults, with the WeCom simulator standing in for WeCom."""

from __future__ import annotations

import logging
from pathlib import Path

import uvicorn

from bot.config import load_settings
from bot.logging import setup_logging
from compliance.pii import PIIMaskingFilter

log = logging.getLogger(__name__)

DEMO_DIR = Path(__file__).parent
KB_CONTENT = Path(__file__).resolve().parents[2] / "knowledge_base" / "content"


def run_demo(*, port: int, sim_port: int, data_dir: Path, host: str = "127.0.0.1") -> None:
    """Start the simulator and the bot, load the demo data, print the URLs and serve until Ctrl-C."""
    from bot.main import create_app
    from bot.services import build_services
    from bot.wecom.simulator import WeComSimulator

    setup_logging("WARNING", filters=(PIIMaskingFilter(),))
    public = f"http://{host}:{port}"
    base = load_settings(_env_file=None, scrm_env="demo", scrm_data_dir=data_dir, scrm_public_url=public)
    sim = WeComSimulator.from_settings(base.wecom, f"{public}/wecom/callback", port=sim_port).start()
    try:
        settings = base.model_copy(update={"wecom_api_base": sim.base_url})
        services = build_services(settings)
        seed_demo(services)
        app = create_app(services)
        print(
            "\nWeCom SCRM assistant demo\n"
            f"  client chat page (play a client):  {sim.chat_url}\n"
            f"  staff view (advisor app messages): {sim.staff_url}\n"
            f"  console:                           {public}/console/\n"
            f"  JSON API docs:                     {public}/api/docs\n"
            f"  data directory:                    {settings.data_dir}\n"
            "Ctrl-C stops everything.\n",
            flush=True,
        )
        uvicorn.run(app, host=host, port=port, log_level="warning")
    finally:
        sim.stop()


def seed_demo(services) -> None:  # type: ignore[no-untyped-def]
    """Demo knowledge base, advisors and clients (idempotent: unchanged content is not imported again)."""
    from bot.clients import service as client_service

    services.kb.import_paths([KB_CONTENT], progress=True)
    with services.db.session() as session:
        client_service.import_advisors_file(session=session, path=DEMO_DIR / "advisors.json", now=services.now())
    with services.db.session() as session:
        client_service.import_clients_file(session=session, path=DEMO_DIR / "clients.csv", now=services.now())
