"""What a review use case refuses, with the HTTP status a web page answers it with."""

from __future__ import annotations


class ReviewError(Exception):
    """A request the campaign cannot honour; ``status`` is the HTTP status the web pages use."""

    status = 400


class CampaignNotFound(ReviewError):
    status = 404


class ItemNotFound(ReviewError):
    status = 404


class NotYourItem(ReviewError):
    """The item belongs to another reviewer (or the link's reviewer has no such item)."""

    status = 403


class SelfReview(ReviewError):
    """Nobody reviews their own access."""

    status = 403


class JustificationRequired(ReviewError):
    status = 422


class CampaignClosed(ReviewError):
    status = 409


class BadToken(ReviewError):
    """A reviewer link that is unknown, expired or revoked."""

    status = 401


class UnknownCampaign(ReviewError):
    """No ``[[reviews.campaigns]]`` entry of that name."""

    status = 404
