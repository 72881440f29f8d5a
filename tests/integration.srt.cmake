# SRT ingest end to end: ffmpeg and srt-live-transmit publish to cartcast-origin.
cc_integration_test(srt_ingest test_srt_ingest.py)
