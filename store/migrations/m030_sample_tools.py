"""Tool calling kept with a sample: the tools list a conversation may call and the role of each turn
(``function_call`` / ``observation`` besides user / assistant), so LLaMA-Factory's tool-calling ShareGPT
data goes through import, snapshots and export unchanged."""

SQL = """
ALTER TABLE samples ADD COLUMN tools VARCHAR;            -- the tools list as JSON text (NULL: none)
ALTER TABLE samples ADD COLUMN roles VARCHAR[];          -- role per turn: history pairs, prompt, answer (NULL: plain)
ALTER TABLE snapshot_samples ADD COLUMN tools VARCHAR;
ALTER TABLE snapshot_samples ADD COLUMN roles VARCHAR[];
"""
