"""Lines of a phone: add (first free position), change, replace and delete."""

from __future__ import annotations

from provisioner.domain import ScopeKind
from provisioner.edits._writer import LINE_FIELDS, EditWriter
from provisioner.entities import find_line, find_phone
from provisioner.errors import ConflictError, InputError
from provisioner.scope import ScopeRef
from provisioner.state import LineState, Part, TenantState
from provisioner.store import Changes

__all__ = ["LineEdits"]


class LineEdits:
    """Lines of a phone: add (first free position), change, replace and delete."""

    def __init__(self, writer: EditWriter) -> None:
        self.writer = writer

    def add(self, mac: str, line: LineState) -> int:
        """Add a line; position 0 means the first free position. Returns the position."""
        tenant = self.writer.tenant_of(mac)

        def mutate(state: TenantState) -> None:
            phone = find_phone(state, mac)
            used = {x.position for x in phone.lines}
            if line.position == 0:
                line.position = next(p for p in range(1, len(used) + 2) if p not in used)
            elif line.position in used:
                raise ConflictError(f"line {line.position} of phone {mac} already exists")
            phone.lines.append(line)
            phone.lines.sort(key=lambda x: x.position)

        def ref() -> ScopeRef:  # the position is chosen once the state is loaded
            return ScopeRef(ScopeKind.LINE, mac=mac, position=line.position)

        self.writer.write(
            tenant, mutate, action="line.create", ref=ref, part=Part(frozenset({mac}))
        )
        return line.position

    def update(
        self, mac: str, position: int, *, expect: str | None = None, **fields: str
    ) -> Changes:
        """Change line fields (user, auth_user, password, display_name, label)."""
        unknown = set(fields) - LINE_FIELDS
        if unknown:
            raise InputError(f"unknown line field(s): {', '.join(sorted(unknown))}")

        def mutate(state: TenantState) -> None:
            line = find_line(find_phone(state, mac), position)
            for key, value in fields.items():
                setattr(line, key, value)

        ref = ScopeRef(ScopeKind.LINE, mac=mac, position=position)
        return self.writer.write(
            self.writer.tenant_of(mac), mutate, action="line.update", ref=ref, expect=expect
        )

    def replace(self, mac: str, line: LineState, *, expect: str | None = None) -> Changes:
        """Replace a line (fields and settings) at its position."""

        def mutate(state: TenantState) -> None:
            phone = find_phone(state, mac)
            phone.lines.remove(find_line(phone, line.position))
            phone.lines.append(line)
            phone.lines.sort(key=lambda x: x.position)

        ref = ScopeRef(ScopeKind.LINE, mac=mac, position=line.position)
        return self.writer.write(
            self.writer.tenant_of(mac), mutate, action="line.replace", ref=ref, expect=expect
        )

    def remove(self, mac: str, position: int, *, expect: str | None = None) -> None:
        """Delete a line."""

        def mutate(state: TenantState) -> None:
            phone = find_phone(state, mac)
            phone.lines.remove(find_line(phone, position))

        ref = ScopeRef(ScopeKind.LINE, mac=mac, position=position)
        self.writer.write(
            self.writer.tenant_of(mac), mutate, action="line.remove", ref=ref, expect=expect
        )
