-- The events an increment re-tags: each touched user's events from their cut on. $min_cut
-- (the earliest cut) lets the scan skip the row groups of older days.
CREATE OR REPLACE TEMP TABLE retag AS
SELECT r.user_id, r.ts, r.event_id, r.event_type, r.series_id, r.episode_number, r.position_s
FROM raw.events r JOIN scope s ON r.user_id = s.user_id AND r.ts >= s.cut_ts
WHERE r.ts >= $min_cut;
