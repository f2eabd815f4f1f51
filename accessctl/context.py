"""What a command needs to run: settings, logging, and a store whose schema is current."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from accessctl.settings import Settings
    from accessctl.store.reader import ReadConnection


@dataclass
class AppContext:
    """Built once per CLI invocation (or web app start) and passed down; never global."""

    config_path: Path | None = None
    log_format: str | None = None
    log_level: str | None = None
    _settings: Settings | None = field(default=None, init=False)
    _engine: Engine | None = field(default=None, init=False)

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            from accessctl.logs import configure_logging
            from accessctl.settings import load_settings

            self._settings = load_settings(self.config_path)
            configure_logging(
                level=self.log_level or self._settings.log.level,
                fmt=self.log_format or self._settings.log.format,
                secrets=self._settings.secret_values(),
            )
        return self._settings

    def engine(self, *, check_schema: bool = True) -> Engine:
        """The store's engine; refuses when the schema does not match the code (behind: run
        ``accessctl db upgrade``; newer: a newer accessctl upgraded it)."""
        from accessctl.store.engine import make_engine
        from accessctl.store.migrate import ensure_current

        if self._engine is None:
            self._engine = make_engine(self.settings.database_url)
        if check_schema:
            ensure_current(self._engine)
        return self._engine

    @contextmanager
    def reader(self) -> Iterator[ReadConnection]:
        """A read connection to the store through its DB-API driver (no SQLAlchemy: the read commands
        start sooner), closed at the end of the block; refuses a schema that does not match, as
        :meth:`engine` does."""
        from accessctl.store.reader import reader

        with reader(self.settings.database_url) as conn:
            yield conn

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None
