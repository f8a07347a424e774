"""Networking v2.0: availability (routes land with their feature)."""

from fastapi import APIRouter

router = APIRouter()
