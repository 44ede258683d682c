using Microsoft.Extensions.Logging;

namespace P2PNet.Swarm.Internal;

/// <summary>Raises <see cref="SwarmOwner.Changed"/> and <see cref="SwarmMember.Changed"/>: a subscriber's exception is logged, never thrown into the swarm's own work.</summary>
internal static class SwarmEventDispatch
{
    public static void Raise(EventHandler<SwarmEvent>? handler, object sender, SwarmEvent swarmEvent, ILogger logger)
    {
        try
        {
            handler?.Invoke(sender, swarmEvent);
        }
#pragma warning disable CA1031 // a subscriber's bug must not break the swarm
        catch (Exception e)
#pragma warning restore CA1031
        {
            SwarmLog.EventHandlerFailed(logger, e, swarmEvent.GetType().Name);
        }
    }
}
