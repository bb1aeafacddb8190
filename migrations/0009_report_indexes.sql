-- Reports read each counsellor's status changes in a period and the last one before it (their
-- status when the period began), and each chat's first answer; without these they would scan
-- every routing event ever recorded.

CREATE INDEX routing_events_status_changes ON routing_events (counsellor_id, at)
    WHERE kind = 'CounsellorStatusChanged';
CREATE INDEX routing_events_first_answer ON routing_events (chat_id, at)
    WHERE kind = 'ChatAssigned';
