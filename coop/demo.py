"""The demo data set of `make run`: each app contributes one idempotent step.

A step is ``async def step(session) -> str`` (a one-line summary) that writes its
app's demo rows with stable ids (`coop.demo_ids`), doing nothing when they exist.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from rich.console import Console
from rich.progress import Progress
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.database import create_engine, create_sessionmaker

DemoStep = Callable[[AsyncSession], Awaitable[str]]


def steps() -> list[tuple[str, DemoStep]]:
    # Imported here: each step imports its app's models.
    from coop.demo_actions import demo_step as actions_step
    from coop.demo_conventions import demo_step as conventions_step
    from coop.demo_documents import demo_step as documents_step
    from coop.demo_gateway import demo_step as gateway_step

    return [
        ("conventions", conventions_step),
        ("actions", actions_step),
        ("documents", documents_step),
        ("gateway", gateway_step),
    ]


def load_demo(database_url: str, console: Console) -> None:
    asyncio.run(_load(database_url, console))


async def _load(database_url: str, console: Console) -> None:
    engine = create_engine(database_url, pool_size=2)
    sessionmaker = create_sessionmaker(engine)
    try:
        todo = steps()
        with Progress(console=console, transient=True) as progress:
            task = progress.add_task("Données de démonstration", total=len(todo))
            for name, step in todo:
                async with sessionmaker() as session:
                    summary = await step(session)
                    await session.commit()
                console.print(f"[green]✓[/] démo {name} : {summary}")
                progress.advance(task)
    finally:
        await engine.dispose()
