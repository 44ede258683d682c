using Microsoft.Extensions.Logging;

namespace P2PNet.Resources.Internal;

/// <summary>The resource manager's log (event ids 1300–1319). Refusals go through a <see cref="Logging.LogRateLimiter"/>.</summary>
internal static partial class ResourceLog
{
    [LoggerMessage(1300, LogLevel.Warning, "Refused {What} ({Remote}): {Reason} ({Suppressed} similar refusals not logged)")]
    public static partial void Refused(ILogger logger, string what, string remote, string reason, long suppressed);
}
