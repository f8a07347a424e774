"""Networking v2.0: subnets (routes land with their feature)."""

from fastapi import APIRouter

router = APIRouter()
