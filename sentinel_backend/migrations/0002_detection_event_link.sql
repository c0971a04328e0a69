-- 0002: link a detection to its stream event from the detection side.
-- The index on stream_events(detection_id) cost an index write on insert and another on
-- every stamping UPDATE (seq is indexed, so those updates are never HOT). The detection row
-- now carries the id of its stream event, looked up through stream_events' primary key.

ALTER TABLE detections ADD COLUMN stream_event_id bigint;

UPDATE detections d SET stream_event_id = e.id
FROM stream_events e WHERE e.detection_id = d.id AND d.stream_event_id IS NULL;

DROP INDEX stream_events_detection;
