"""What a run measured: raw files in, frames and summary.json out (no printing, no charts)."""
