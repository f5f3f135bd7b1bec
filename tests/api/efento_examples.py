# ruff: noqa: W291, RUF001  (verbatim vendor text: its trailing spaces and curly quotes stay)
"""The JSON blocks of Efento's gateway "API documentation" page, copied verbatim.

Whitespace and typos are the page's own; only ``DOC_MEASUREMENTS_EXAMPLE_FIXED``
is ours: the published example with its one typo repaired, so the rest of it
can be checked field by field.
"""

from __future__ import annotations

# "The structure of the measurements JSON": a template with // comments, not JSON.
DOC_MEASUREMENTS_STRUCTURE = """{
  "measurements" : [
        {
"serial" : [string], // serial number of the logger
"response_handle":[number], // logger ID in response (optional)
"battery" : [string], // battery level: ok/low
"signal" : [number], // RSSI
"measured_at" : [string], // UTC date
"measurement_interval" : [number], // measurement interval in seconds  
             "next_measurement_at" : [string], // next connection date
"params" : [
  {
               "channel" : [number], // logger channel number: 1/2/3
               "type" : [string], // temperature / humidity / pressure / pressure_diff / open-close
               "value" : [string],
               "status" : [string] // status of the measurement - ‘ok’ or ‘error’
              }
           ]
        }
    ]
}
"""

# "Examples of the messages sent by Efento Gateway to the server". Not valid JSON as
# published: the fourth measurement's first param reads `"channel: 1, "type: "open-close"`.
DOC_MEASUREMENTS_EXAMPLE = """{
"measurements" : [
{
"serial" : "282C024FFFB1",
"response_handle": 1,
"battery" : "ok",
"signal" : -70,
"measured_at" : "2024-10-12 15:28:21 UTC",
"measurement_interval" : 180,
"next_measurement_at" : "2024-10-12 18:28:21 UTC",
"params" : [
{ "channel": 1, "type": "temperature", "value": 6 , "status" : "ok"}
]
},


{
"serial" : "282C024FFFB2",
"response_handle": 2,
"battery" : "ok",
"signal" : -70,
"measured_at" : "2024-10-12 15:28:21 UTC",
"measurement_interval" : 180,
"next_measurement_at" : "2024-10-12 18:58:21 UTC",
"params" : [
{ "channel": 1, "type": "temperature", "value": 12, "status": "ok"},
{ "channel": 2, "type": "humidity", "value": 51, "status": "ok"}
]
},
{
"serial" : "282C024FFFB3",
"response_handle": 3,
"battery" : "ok",
"signal" : -70,
"measured_at" : "2024-10-12 15:28:21 UTC",
"measurement_interval" : 180,
"next_measurement_at" : "2024-10-12 20:28:21 UTC",
"params" : [
{ "channel": 1, "type": "temperature", "value": 50, "status": "ok"},
{ "channel": 2, "type": "humidity", "value": 30, "status": "ok"},
{ "channel": 3, "type": "pressure_diff", "value": 21, "status": "ok"}
]
},


     {
"serial" : "282C024FFFB4",
"response_handle": 4,
"battery" : "ok",
"signal" : -70,
"measured_at" : "2024-10-12 15:28:21 UTC",
"measurement_interval" : 180,
"next_measurement_at" : "2024-10-12 16:28:21 UTC",
"params" : [
{ "channel: 1, "type: "open-close", "value": "open", "status": "ok"},
{ "channel":2, "type":"open-close", "value":"closed", "status":"ok"},
{ "channel":3, "type":"open-close", "value":"closed", "status":"ok"}
                ]
}
   ]
}

"""

# The documented reply structure: a template with // comments, not JSON.
DOC_REPLY_STRUCTURE = """{
"Y": [number], // IDs of loggers, which should be synchronised with the server
"N": [number] //  IDs of loggers, which should NOT be synchronised with the server
}
"""

# "Example of the response body sent to the gateway".
DOC_REPLY_EXAMPLE = """{
"Y":[1,2,3],
"N":[4]
}
"""

# "The structure of the heartbeat JSON": a template with // comments, not JSON.
DOC_HEARTBEAT_STRUCTURE = """{
    "name" : [string], // Name of the Gateway
    "model" : [string], // Model of the Gateway
    "software_version" : [string], // Software version
    "current_time" : [int], // Current time on the Gateway (Unix representation)
    "uptime" : [int], // Number of seconds since power up
    "mac" : [string], // MAC address
    "sensors_number" : [string], // number of loggers in the Gateway's range
    "next_communication_at" : [int], // Timestamp of the next communication
    "power_monitor" : {
        "is_usb_connected" : [boolean], // Information if the USB power adapter is connected
        "is_charging" : [boolean], // Information if the battery is charging
        "battery_level" : [int] // Battery level in %. ‘Null’, if power supply is connected
    }
}

"""

# "Example of a heartbeat message".
DOC_HEARTBEAT_EXAMPLE = """{
    "name": "Efento-Gateway-030A",
    "model": "HG6-v1.2-LECH",
    "software_version": "01.00.00-c723d",
    "current_time": 1731074192,
    "uptime": 2401,
    "mac": "28:2C:02:4F:03:0A",
    "sensors_number": "128/128",
    "next_communication_at": 1731075392,
    "power_monitor": {
        "is_usb_connected": true,
        "is_charging": true,
        "battery_level": null
    }
}
"""

# The typo of the fourth measurement, and what it obviously means.
DOC_TYPO = '"channel: 1, "type: "open-close"'
DOC_TYPO_FIXED = '"channel": 1, "type": "open-close"'
DOC_MEASUREMENTS_EXAMPLE_FIXED = DOC_MEASUREMENTS_EXAMPLE.replace(DOC_TYPO, DOC_TYPO_FIXED)
