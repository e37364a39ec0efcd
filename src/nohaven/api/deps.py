"""Typed dependencies: the node and the caller (bearer token)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from nohaven.auth.policy import Subject
from nohaven.auth.service import authenticate_token, note_token_use, subject_of, token_use_is_stale
from nohaven.errors import AuthenticationError
from nohaven.node import Node


def get_node(request: Request) -> Node:
    node: Node = request.app.state.node
    return node


NodeDep = Annotated[Node, Depends(get_node)]


def current_subject(request: Request, node: NodeDep) -> Subject:
    """The user behind the bearer token; 401 without one."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if not header:
        raise AuthenticationError("this endpoint needs an API token: send 'Authorization: Bearer <token>'")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthenticationError("the Authorization header must be 'Bearer <token>'")
    token = token.strip()
    with node.db.read_session() as session:
        subject = subject_of(authenticate_token(session, token))
        stale = token_use_is_stale(session, token)
    if stale:
        with node.db.session() as session:
            note_token_use(session, token)
    return subject


CurrentSubject = Annotated[Subject, Depends(current_subject)]
