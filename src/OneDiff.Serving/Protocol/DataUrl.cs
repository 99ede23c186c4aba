namespace OneDiff.Serving.Protocol;

/// <summary>
/// Images come inside the request as <c>data:image/...;base64,</c> URLs. The server fetches
/// nothing: an http(s) URL is refused (it would let any caller make the server reach any host).
/// The size is checked from the base64 length before anything is decoded.
/// </summary>
public static class DataUrl
{
    public static RequestImage Read(string url, string param, long maxBytes)
    {
        if (url.StartsWith("http://", StringComparison.OrdinalIgnoreCase) || url.StartsWith("https://", StringComparison.OrdinalIgnoreCase))
            throw ApiError.BadRequest("remote image URLs are refused: this server fetches nothing; send the image inline as a data: URL (data:image/png;base64,...)", param, "remote_image_url");
        if (!url.StartsWith("data:", StringComparison.OrdinalIgnoreCase))
            throw ApiError.BadRequest("an image must be a data: URL (data:image/png;base64,...)", param, "invalid_image_url");
        int comma = url.IndexOf(',');
        if (comma < 0) throw ApiError.BadRequest("the data: URL has no ',' before its data", param, "invalid_image_url");
        var header = url.AsSpan(5, comma - 5);
        if (!header.EndsWith(";base64", StringComparison.OrdinalIgnoreCase)) throw ApiError.BadRequest("the data: URL must be base64 (data:image/png;base64,...)", param, "invalid_image_url");
        string mediaType = header[..^";base64".Length].ToString();
        if (mediaType.Length > 0 && !mediaType.StartsWith("image/", StringComparison.OrdinalIgnoreCase))
            throw ApiError.BadRequest($"the data: URL holds '{mediaType}', not an image", param, "invalid_image");
        var data = url.AsSpan(comma + 1);
        long decodedLength = data.Length / 4 * 3;
        if (decodedLength > maxBytes) throw ApiError.TooLarge($"the image is about {decodedLength / 1024} KiB; the limit is {maxBytes / 1024} KiB", param);
        var bytes = new byte[decodedLength + 3];
        if (!Convert.TryFromBase64Chars(data, bytes, out int written)) throw ApiError.BadRequest("the data: URL's base64 is not valid", param, "invalid_image_url");
        if (written == 0) throw ApiError.BadRequest("the image is empty", param, "invalid_image");
        return new RequestImage(bytes[..written], mediaType, param);
    }
}
