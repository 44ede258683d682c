namespace P2PNet.Protocols.Perf;

/// <summary>The outcome of one perf run.</summary>
/// <param name="UploadBytes">Bytes we sent.</param>
/// <param name="DownloadBytes">Bytes we received.</param>
/// <param name="Upload">Time from the first byte sent to the end of our upload.</param>
/// <param name="Download">Time from the end of our upload to the last byte received.</param>
/// <param name="Total">Time of the whole run.</param>
public sealed record PerfResult(long UploadBytes, long DownloadBytes, TimeSpan Upload, TimeSpan Download, TimeSpan Total);
