namespace P2PNet.Host;

/// <summary>Base type of every event a <see cref="P2PHost"/> raises on its <see cref="EventBus"/>.</summary>
public abstract record HostEvent;
