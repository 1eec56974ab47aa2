"""Assets whose bodies arrive with later issues fail loudly instead of pretending."""

import dagster as dg


def not_built_yet(asset_name: str, issue: str) -> dg.Failure:
    return dg.Failure(
        description=f"{asset_name} is declared but not implemented yet ({issue}); "
        "materializing it does nothing and records nothing.",
        allow_retries=False,
    )
