-- A batch line is `queued` once its queue message was sent. Creation writes every line (queued = 0)
-- before it enqueues any, then marks them as their messages go out; a creation that dies half-way
-- leaves lines with queued = 0, which the sweeper (batch/sweep.ts) enqueues again from the input
-- file. Rows from before this column were enqueued at creation.
ALTER TABLE batch_lines ADD COLUMN queued INTEGER NOT NULL DEFAULT 1;
CREATE INDEX batch_lines_unqueued ON batch_lines(batch_id, queued, status);
