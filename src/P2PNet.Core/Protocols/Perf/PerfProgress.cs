namespace P2PNet.Protocols.Perf;

/// <summary>
/// How far a perf run has got, reported while it runs (the perf spec's "intermediary" results,
/// libp2p/specs perf/perf.md).
/// </summary>
/// <param name="UploadedBytes">Bytes sent so far.</param>
/// <param name="DownloadedBytes">Bytes received so far.</param>
/// <param name="Elapsed">Time since the run started.</param>
public readonly record struct PerfProgress(long UploadedBytes, long DownloadedBytes, TimeSpan Elapsed);
