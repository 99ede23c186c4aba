namespace OneDiff.Serving;

/// <summary>How <c>onediff serve</c> listens, batches and limits what it accepts.</summary>
public sealed record ServingOptions
{
    /// <summary>Where to listen; loopback unless asked otherwise (port 0 picks a free one).</summary>
    public string Urls { get; init; } = "http://127.0.0.1:8000";
    /// <summary>The name clients give as "model" (<c>GET /v1/models</c> lists it).</summary>
    public string ModelName { get; init; } = "onediff";
    /// <summary>At most this many pairs decoded together.</summary>
    public int MaxBatch { get; init; } = 16;
    /// <summary>How long the first request of a batch waits for others to join it.</summary>
    public int MaxWaitMilliseconds { get; init; } = 10;
    /// <summary>Requests waiting beyond the running batch; one more is answered 429.</summary>
    public int MaxQueue { get; init; } = 256;
    /// <summary>When set, <c>/v1/*</c> needs <c>Authorization: Bearer</c> this key.</summary>
    public string? ApiKey { get; init; }
    /// <summary>The largest request body (two base64 images and the JSON around them).</summary>
    public long MaxRequestBytes { get; init; } = 32L << 20;
    /// <summary>The largest encoded image.</summary>
    public long MaxImageBytes { get; init; } = 12L << 20;
    /// <summary>The most pixels an image may declare: checked from its header before it is decoded.
    /// The default is Pillow's decompression-bomb limit (Image.MAX_IMAGE_PIXELS).</summary>
    public long MaxImagePixels { get; init; } = 89_478_485;
    /// <summary>The most new tokens a request may ask for.</summary>
    public int MaxTokensLimit { get; init; } = 1024;

    /// <summary>The first setting out of range, by its name.</summary>
    public void Check()
    {
        static void Positive(long value, string name) { if (value <= 0) throw new ArgumentOutOfRangeException(name, value, "must be positive"); }
        Positive(MaxBatch, nameof(MaxBatch));
        if (MaxWaitMilliseconds < 0) throw new ArgumentOutOfRangeException(nameof(MaxWaitMilliseconds), MaxWaitMilliseconds, "must be 0 or more");
        Positive(MaxQueue, nameof(MaxQueue));
        Positive(MaxRequestBytes, nameof(MaxRequestBytes));
        Positive(MaxImageBytes, nameof(MaxImageBytes));
        Positive(MaxImagePixels, nameof(MaxImagePixels));
        Positive(MaxTokensLimit, nameof(MaxTokensLimit));
        if (string.IsNullOrWhiteSpace(ModelName)) throw new ArgumentException("the model name is empty", nameof(ModelName));
        if (ApiKey is { Length: 0 }) throw new ArgumentException("the API key is empty", nameof(ApiKey));
    }
}
