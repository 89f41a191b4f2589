import Foundation

/// The fields of a `multipart/form-data` body (RFC 7578): what a browser sends for a form with a
/// file. A file field's value is the file's text; its name is kept under `<field>.filename`.
enum MultipartForm {
    /// The fields, or nil when the content type is not multipart or names no boundary.
    static func fields(contentType: String, body: Data) -> [String: String]? {
        let parameters = contentType.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
        guard parameters.first?.lowercased() == "multipart/form-data",
              var boundary = parameters.dropFirst().first(where: { $0.lowercased().hasPrefix("boundary=") })?.dropFirst(9),
              !boundary.isEmpty else { return nil }
        if boundary.hasPrefix("\""), boundary.hasSuffix("\""), boundary.count >= 2 { boundary = boundary.dropFirst().dropLast() }
        let delimiter = Data(("--" + boundary).utf8)
        var fields: [String: String] = [:]
        var position = body.startIndex
        guard let first = body.range(of: delimiter, in: position..<body.endIndex) else { return [:] }
        position = first.upperBound
        while position < body.endIndex {
            // After a delimiter: "--" ends the body; otherwise CRLF, the part's headers, a blank line, its content.
            if body[position...].starts(with: Data("--".utf8)) { break }
            guard let headersEnd = body.range(of: Data("\r\n\r\n".utf8), in: position..<body.endIndex),
                  let next = body.range(of: Data("\r\n".utf8) + delimiter, in: headersEnd.upperBound..<body.endIndex) else { break }
            let headers = String(decoding: body[position..<headersEnd.lowerBound], as: UTF8.self)
            let content = body[headersEnd.upperBound..<next.lowerBound]
            if let disposition = headers.split(separator: "\r\n").first(where: { $0.lowercased().hasPrefix("content-disposition:") }),
               let name = parameter("name", in: disposition) {
                fields[name] = String(decoding: content, as: UTF8.self)
                if let filename = parameter("filename", in: disposition) { fields[name + ".filename"] = filename }
            }
            position = next.upperBound
        }
        return fields
    }

    /// `name="value"` from a header line.
    private static func parameter(_ key: String, in header: Substring) -> String? {
        for part in header.split(separator: ";").dropFirst() {
            let pair = part.trimmingCharacters(in: .whitespaces)
            guard pair.lowercased().hasPrefix(key + "=") else { continue }
            var value = pair.dropFirst(key.count + 1)
            if value.hasPrefix("\""), value.hasSuffix("\""), value.count >= 2 { value = value.dropFirst().dropLast() }
            return String(value)
        }
        return nil
    }
}
