-- Ticks of a schedule a host could not keep up with and skipped, counted (the scheduler's
-- MAX_TICKS per round): overload is said, not silent.
ALTER TABLE schedules ADD COLUMN ticks_skipped BIGINT NOT NULL DEFAULT 0;
